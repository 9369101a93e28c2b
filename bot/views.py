"""Read-only snapshots of tickets and people that channels may keep after the session ends."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from bot.model import format_number
from bot.store import tables as t


@dataclass(frozen=True, slots=True)
class PersonView:
    id: int
    email: str | None
    name: str
    role: str
    team: str | None
    slack_user_id: str | None

    @classmethod
    def of(cls, person: t.Person) -> PersonView:
        return cls(
            id=person.id,
            email=person.email,
            name=person.name,
            role=person.role,
            team=person.team.name if person.team else None,
            slack_user_id=person.slack_user_id,
        )

    @property
    def label(self) -> str:
        return self.email or self.slack_user_id or f"person {self.id}"


@dataclass(frozen=True, slots=True)
class WorkChoices:
    """The choices a workspace page offers (assignees, categories, teams, fields)."""

    staff: tuple[PersonView, ...]
    categories: tuple[str, ...]
    teams: tuple[str, ...]
    fields: tuple[dict[str, object], ...]


@dataclass(frozen=True, slots=True)
class AttachmentView:
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str

    @classmethod
    def of(cls, row: t.Attachment) -> AttachmentView:
        return cls(row.id, row.filename, row.content_type, row.size, row.sha256)


@dataclass(frozen=True, slots=True)
class CommentView:
    id: int
    # The ticket it is on: a comment on a merged ticket lands on the survivor.
    ticket_number: str
    author: str | None
    body: str
    public: bool
    flagged: bool
    channel: str
    created_at: datetime
    attachments: tuple[AttachmentView, ...] = ()
    full_body: str | None = None
    source_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class EventView:
    id: int
    actor: str
    kind: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TicketView:
    id: int
    number: str
    subject: str
    description: str
    status: str
    priority: str
    channel: str
    requester: str
    assignee: str | None
    team: str | None
    category: str | None
    tags: tuple[str, ...]
    custom_fields: dict[str, Any]
    merged_into: str | None
    created_at: datetime
    updated_at: datetime
    sla_status: str | None = None
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    escalation_level: int = 0
    expired_at: datetime | None = None

    @classmethod
    def of(cls, ticket: t.Ticket, prefix: str, fields: dict[str, Any] | None = None) -> TicketView:
        return cls(
            id=ticket.id,
            number=format_number(prefix, ticket.id),
            subject=ticket.subject,
            description=ticket.description,
            status=ticket.status,
            priority=ticket.priority,
            channel=ticket.channel,
            requester=_label(ticket.requester),
            assignee=_label(ticket.assignee) if ticket.assignee else None,
            team=ticket.team.name if ticket.team else None,
            category=ticket.category.path if ticket.category else None,
            tags=tuple(sorted(tag.name for tag in ticket.tags)),
            custom_fields=dict(fields or {}),
            merged_into=format_number(prefix, ticket.merged_into_id) if ticket.merged_into_id else None,
            created_at=ticket.created_at,
            updated_at=ticket.updated_at,
            sla_status=ticket.sla_status,
            first_response_due=ticket.first_response_due,
            resolution_due=ticket.resolution_due,
            escalation_level=ticket.escalation_level,
            expired_at=ticket.expired_at,
        )


@dataclass(frozen=True, slots=True)
class CardView:
    """A ticket as its chat card shows it, with the chat ids of the people on it."""

    ticket: TicketView
    requester_slack_id: str | None
    assignee_slack_id: str | None
    sla_due: datetime | None = None


@dataclass(frozen=True, slots=True)
class TicketDetail:
    ticket: TicketView
    comments: tuple[CommentView, ...]
    events: tuple[EventView, ...]


@dataclass(frozen=True, slots=True)
class NotificationView:
    id: int
    ticket: str | None
    channel: str
    recipient: str
    template: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def _label(person: t.Person) -> str:
    return person_label(person.id, person.email, person.slack_user_id, person.name)


def person_label(person_id: int, email: str | None, slack_user_id: str | None, name: str | None) -> str:
    """How a person is shown in a ticket's view: email, else Slack user, else name, else id;
    from a row's columns as well as from a loaded person."""
    return email or slack_user_id or name or f"person {person_id}"


def to_jsonable(value: Any) -> Any:
    """Dataclasses, tuples and datetimes as JSON-ready values (ISO 8601, UTC).

    Dataclasses are walked field by field, not through ``dataclasses.asdict``: that deep-copies
    every leaf first (half the time of an API list went there), and the walk below makes new
    containers anyway.
    """
    if hasattr(value, "__dataclass_fields__"):
        return {item.name: to_jsonable(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, dict):
        return {key: to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
