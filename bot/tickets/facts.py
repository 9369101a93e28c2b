"""A stored ticket as automation rules' conditions see it (:class:`bot.rules.conditions.Facts`).

Values come from the ticket's row as it stands in this transaction, so a rule
sees what an earlier rule just changed. What the row does not hold (custom
fields, the latest comment) is read only when a condition names it, once.

``row_only`` facts answer from the row alone and refuse the rest with
:class:`NotKnown`: a ticket's next check for time-based rules is worked out on
every change (:mod:`bot.tickets.automation_timers`) and must cost no query;
whatever they cannot tell is left for the sweep to decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.people import directory
from bot.rules.conditions import text_fact
from bot.rules.model import SINCE
from bot.sla import calendar as sla
from bot.store import tables as t
from bot.unit import Unit


class NotKnown(Exception):
    """A fact that row-only facts do not read; the caller treats the condition as open."""


class TicketFacts:
    def __init__(
        self,
        unit: Unit,
        ticket: t.Ticket,
        *,
        comment: t.Comment | None = None,
        row_only: bool = False,
        tags: Sequence[str] | None = None,
    ) -> None:
        """``tags``: a ticket not yet written has its rules' tags given, not on it yet."""
        self.unit = unit
        self._tags = tuple(tags) if tags is not None else None
        self.ticket = ticket
        self.comment = comment
        self.row_only = row_only
        self._fields: dict[str, Any] | None = None
        self._latest: str | None = None
        self._values: dict[str, object] = {}

    def value(self, name: str) -> object:
        """Read once per evaluation (a thousand rules ask for the same few facts);
        :meth:`forget` after a rule changed the ticket."""
        if name not in self._values:
            self._values[name] = self._read(name)
        return self._values[name]

    def _read(self, name: str) -> object:
        ticket = self.ticket
        if name.startswith("field."):
            return self._custom_fields().get(name[6:])
        match name:
            case "status":
                return ticket.status
            case "priority":
                return ticket.priority
            case "category":
                return ticket.category.path if ticket.category else None
            case "team":
                return ticket.team.name if ticket.team else None
            case "assignee":
                return ticket.assignee.email if ticket.assignee else None
            case "tags":
                return self._tags if self._tags is not None else tuple(tag.name for tag in ticket.tags)
            case "channel":
                return ticket.channel
            case "mailbox":
                return ticket.mailbox
            case "requester":
                return ticket.requester.email
            case "requester_domain":
                return directory.domain_of(ticket.requester.email)
            case "subject":
                return text_fact(ticket.subject)
            case "comment":
                return text_fact(self._latest_comment())
            case "text":
                return text_fact(f"{ticket.subject}\n{self._latest_comment()}")
            case "sla_status":
                if self.row_only:
                    raise NotKnown(name)
                return ticket.sla_status
        return None

    def hours_since(self, anchor: str, business: bool) -> float | None:
        if self.row_only:
            raise NotKnown(anchor)
        start = anchor_time(self.ticket, anchor)
        if start is None:
            return None
        if business:
            return sla.business_seconds_between(start, self.unit.now, self.calendar()) / 3600
        return max((self.unit.now - start).total_seconds(), 0.0) / 3600

    def business_hours_now(self) -> bool:
        if self.row_only:
            raise NotKnown("business_hours_now")
        return sla.is_working(self.calendar(), self.unit.now)

    def forget(self) -> None:
        """A rule changed the ticket: what was read beside its row is read again when asked."""
        self._fields = None
        self._latest = None
        self._values.clear()

    def calendar(self) -> sla.Calendar:
        ticket = self.ticket
        path = ticket.category.path if ticket.category else None
        return self.unit.rules.policies.for_ticket(ticket.priority, path).calendar

    def _custom_fields(self) -> dict[str, Any]:
        if self._fields is None:
            if self.row_only:
                raise NotKnown("custom fields")
            rows = self.unit.session.execute(
                select(t.CustomField.key, t.CustomFieldValue.value)
                .join(t.CustomField, t.CustomField.id == t.CustomFieldValue.field_id)
                .where(t.CustomFieldValue.ticket_id == self.ticket.id)
            )
            self._fields = {key: value["v"] for key, value in rows}
        return self._fields

    def _latest_comment(self) -> str:
        if self.comment is not None:
            return self.comment.body
        if self._latest is None:
            if self.row_only:
                raise NotKnown("comment")
            self._latest = (
                self.unit.session.scalar(
                    select(t.Comment.body)
                    .where(t.Comment.ticket_id == self.ticket.id)
                    .order_by(t.Comment.id.desc())
                    .limit(1)
                )
                or ""
            )
        return self._latest


def anchor_time(ticket: t.Ticket, anchor: str) -> datetime | None:
    """When a state began, by the names rules use (``since`` and ``hours_since_*``)."""
    match anchor:
        case "created":
            return ticket.created_at
        case "updated":
            return ticket.updated_at
        case "status_changed":
            return ticket.status_changed_at or ticket.created_at
        case "assignment_changed":
            return ticket.assignment_changed_at or ticket.created_at
        case "requester_reply":
            return ticket.requester_replied_at
        case "agent_reply":
            return ticket.agent_replied_at
        case "resolved":
            return ticket.resolved_at if ticket.status == "resolved" else None
    return None


def anchors(ticket: t.Ticket) -> dict[str, datetime | None]:
    return {name: anchor_time(ticket, name) for name in SINCE}
