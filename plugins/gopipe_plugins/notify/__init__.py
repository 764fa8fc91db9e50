"""Notifiers: tell people how a run went, in the chat tool or inbox they already watch.

Every notifier builds the same :class:`~gopipe_plugins.notify.message.Message` from the run
report, renders it in its service's dialect (or a user template), filters on the run's
event (``success``, ``failure``, ``fixed``, ``cancelled``) and delivers it with retries.
"""
