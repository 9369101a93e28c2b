"""Errors split by whose fault they are.

A :class:`UserError` is the sender's fault and becomes the channel's reply
(a 5xx SMTP line, an ephemeral Slack message, an HTTP 4xx, a CLI message).
Anything else is ours and is logged with its traceback by the channel.
"""

from __future__ import annotations


class BotError(Exception):
    """Base of every error the core raises on purpose."""


class UserError(BotError):
    """The request cannot be done as asked; the message says why and how to fix it."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(UserError):
    """A ticket, person or other object named in the request does not exist."""


class Conflict(UserError):
    """The request clashes with the current state (e.g. merging a ticket into itself)."""


class InvalidTransition(UserError):
    """The configured workflow does not allow this status change."""


class ConfigError(BotError):
    """A configuration value is invalid; the message names the option and what it accepts."""


class StoreUnavailable(BotError):
    """The database could not be reached; the caller should ask the sender to retry."""


class StoreConflict(StoreUnavailable):
    """The database gave up a transaction that met another (a deadlock, a serialization
    failure): worth trying again at once, where an outage is not."""


class Unauthenticated(UserError):
    """No credentials, or ones that name nobody (an unknown or revoked API token)."""


class TooManyAttempts(Unauthenticated):
    """Sign-in refused without checking: too many failures lately from this address or client."""


class SenderRefused(UserError):
    """Mail from a sender the desk's policy refuses (a banned address or domain): SMTP
    answers ``550 5.7.1``, so the sending server returns it rather than retrying."""


class Forbidden(UserError):
    """The person is known but their role does not allow this."""


class TooLarge(UserError):
    """What was sent is over a configured size limit (an attachment over ``max_bytes``)."""
