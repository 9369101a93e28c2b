"""Builders with sensible defaults, so a test names only what it is about."""

from __future__ import annotations

import itertools
from typing import Any

from bot.desk.facade import Desk
from bot.messages import Identity, Inbound
from bot.model import Actor, Role

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


def make_ticket(desk: Desk, **overrides: Any) -> str:
    """A ticket opened the way mail opens one (``make_inbound(**overrides)``); its number."""
    number = desk.receive(make_inbound(**overrides)).ticket_number
    assert number is not None, "the message did not open or reach a ticket"
    return number


def make_person(desk: Desk, admin: Actor, email: str, *, role: Role = Role.AGENT, **overrides: Any) -> Actor:
    """A person added by ``admin`` (an agent unless ``role`` says otherwise), as they act on the desk."""
    person = desk.add_person(admin, email, role=role, **overrides)
    return Actor(person.id, email, role)
