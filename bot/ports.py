"""What the core needs from the outside world, as Protocols.

Channels and the composition root provide the implementations; tests pass
small fakes from ``tests/fakes.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from bot.messages import Outbound


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC."""
        ...


class Sender(Protocol):
    """Delivers one notification on one channel.

    Raise :class:`bot.notify.outbox.TransientDeliveryError` to be retried with
    backoff, :class:`bot.notify.outbox.PermanentDeliveryError` to park it as dead.
    Senders must be safe to call twice for the same notification (the
    dispatcher may resend after a crash): key what they write on
    ``outbound.notification_id``.
    """

    def send(self, outbound: Outbound) -> None: ...
