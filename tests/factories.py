"""Builders with sensible defaults, so a test names only what it is about."""

from __future__ import annotations

import itertools
from typing import Any

from bot.messages import Identity, Inbound

_keys = itertools.count(1)


def make_inbound(**overrides: Any) -> Inbound:
    email = overrides.pop("email", "customer@example.com")
    name = overrides.pop("name", "Casey Customer")
    values: dict[str, Any] = {
        "channel": "email",
        "sender": Identity(email=email, name=name),
        "subject": "Printer on fire",
        "text": "The printer on floor 3 is on fire again.",
        "key": f"<msg-{next(_keys)}@example.com>",
    }
    values.update(overrides)
    return Inbound(**values)
