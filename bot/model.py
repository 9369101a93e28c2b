"""The vocabulary of a ticket: statuses, priorities, roles and field kinds.

Kept free of SQL and templates so rules can be tested as plain Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.errors import UserError


class Status(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING_CUSTOMER = "waiting_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class Role(StrEnum):
    REQUESTER = "requester"
    AGENT = "agent"
    ADMIN = "admin"

    @property
    def is_staff(self) -> bool:
        return self is not Role.REQUESTER


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DROPDOWN = "dropdown"
    DATE = "date"
    MULTIPLE_CHOICE = "multiple_choice"


# Other help desks call the top priority "critical"; we accept it as urgent.
PRIORITY_ALIASES = {"critical": Priority.URGENT}


def parse_status(value: str) -> Status:
    try:
        return Status(value.strip().lower())
    except ValueError:
        raise UserError(
            f"unknown status {value!r}; use one of: {', '.join(Status)}", field="status"
        ) from None


def parse_priority(value: str) -> Priority:
    key = value.strip().lower()
    if key in PRIORITY_ALIASES:
        return PRIORITY_ALIASES[key]
    try:
        return Priority(key)
    except ValueError:
        raise UserError(
            f"unknown priority {value!r}; use one of: {', '.join(Priority)} (critical = urgent)",
            field="priority",
        ) from None


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise UserError(f"unknown role {value!r}; use one of: {', '.join(Role)}", field="role") from None


# Ticket ids are 32-bit integers in the store; a larger number cannot name a ticket.
MAX_TICKET_ID = 2**31 - 1


def format_number(prefix: str, ticket_id: int) -> str:
    return f"{prefix}-{ticket_id}"


def parse_number(prefix: str, number: str) -> int:
    """Accept ``SUP-12``, ``sup-12`` and a bare ``12``; anything else is the caller's mistake."""
    text = number.strip()
    head, sep, tail = text.rpartition("-")
    if sep and head.upper() == prefix.upper():
        text = tail
    if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_TICKET_ID:
        return int(text)
    raise UserError(f"{number!r} is not a ticket number like {prefix}-1042", field="number")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is making a change, for the audit log.

    ``person_id`` is None for the bot itself or an operator at the console;
    ``label`` is what the audit log shows (an email, ``system``, ``cli``).
    """

    person_id: int | None
    label: str
    role: Role = Role.ADMIN

    @classmethod
    def system(cls) -> Actor:
        return cls(None, "system")

    @classmethod
    def console(cls) -> Actor:
        return cls(None, "cli")


def clean_tag(name: str) -> str:
    """A tag as it is kept: lower case, dashes for spaces; shared by changes, rules and filters."""
    tag = name.strip().lower().replace(" ", "-")
    if not tag or len(tag) > 100 or "," in tag:
        raise UserError(f"{name!r} is not a tag: use up to 100 characters, no commas", field="tags")
    return tag
