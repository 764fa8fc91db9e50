"""Exceptions raised by the OCI library.

Messages name the registry, repository, digest/tag and HTTP status, never credentials; the
registry client also passes every message through its ``redact`` callable.
"""

from __future__ import annotations


class OciError(Exception):
    """Base class for everything this package raises on purpose."""


class RegistryError(OciError):
    """A registry answered with an unexpected status (``status`` may be ``None``)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotTLSError(RegistryError):
    """The server answered a TLS handshake with plain HTTP."""


class AuthError(RegistryError):
    """Authentication is required and failed (no credentials, or they were rejected)."""


class NotFoundError(RegistryError):
    """The manifest or blob does not exist."""


class DigestMismatchError(RegistryError):
    """The registry serves different content than what was pushed or requested."""


class RetryExhaustedError(RegistryError):
    """A transient failure (5xx, 429, dropped connection, timeout) outlasted the retry budget."""

    def __init__(self, message: str, status: int | None, attempts: int) -> None:
        super().__init__(message, status)
        self.attempts = attempts


class TooLargeError(RegistryError):
    """A manifest or blob is larger than the caller's limit (checked before and while reading)."""
