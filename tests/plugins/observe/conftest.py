"""The observe tests share the notify tests' receiver and state fixtures."""

from tests.plugins.notify.conftest import receiver, send, state_dir

__all__ = ["receiver", "send", "state_dir"]
