"""Reading tickets and people back: lists with filters and one ticket in full."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.orm import aliased

from bot.audit import log as audit
from bot.errors import UserError
from bot.model import Actor, Role, clean_tag, format_number, parse_priority, parse_status
from bot.people import directory
from bot.people.permissions import require_party
from bot.read import search, sorting
from bot.sla.calendar import SlaStatus
from bot.store import tables as t
from bot.tickets import changes as tickets
from bot.tickets import classify
from bot.tickets import sla_clocks as sla_track
from bot.unit import Unit
from bot.views import (
    AttachmentView,
    CardView,
    CommentView,
    EventView,
    PersonView,
    TicketDetail,
    TicketView,
    WorkChoices,
    person_label,
)


@dataclass(frozen=True, slots=True)
class TicketFilter:
    status: str | None = None
    priority: str | None = None
    assignee: str | None = None
    requester: str | None = None
    tag: str | None = None
    # By person id, for people known only by their Slack user.
    requester_id: int | None = None
    assignee_id: int | None = None
    open_only: bool = False
    limit: int = 100
    offset: int = 0
    category: str | None = None
    sla_status: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    # Keyset pagination: only tickets older (by id) than this one.
    # The order (bot/read/sorting.py: ``-updated_at``, ``due``, ...; None: newest first) and,
    # for the next page, where the previous one ended in that same order.
    sort: str | None = None
    after: sorting.Position | None = None
    # Full-text search (bot/read/search.py); ``text_public_only`` leaves internal notes out.
    text: str | None = None
    text_public_only: bool = False
    # The team a ticket is with, by name (a queue of one team's tickets).
    team: str | None = None


def list_tickets(unit: Unit, query: TicketFilter) -> list[TicketView]:
    """In ``query.sort`` order, newest first by default. ``assignee = "none"`` lists unassigned tickets."""
    return _views(unit, filtered(unit, query).limit(query.limit).offset(query.offset))


def iter_tickets(unit: Unit, query: TicketFilter, batch: int = 500) -> Iterator[TicketView]:
    """Every ticket the filter selects (its limit ignored), newest first, ``batch`` rows held at
    a time, so an export never holds the table in memory.

    Page by page on the id (each page a complete query), not one streamed result:
    each page's tags and fields are read with it, which a half-read result does not allow.
    """
    base = filtered(unit, replace(query, sort=None, after=None))
    last: int | None = None
    while True:
        page = base if last is None else base.where(t.Ticket.id < last)
        views = _views(unit, page.limit(batch))
        if not views:
            return
        yield from views
        last = views[-1].id


_REQUESTER = aliased(t.Person, name="list_requester")
_ASSIGNEE = aliased(t.Person, name="list_assignee")
_TEAM = aliased(t.Team, name="list_team")
_CATEGORY = aliased(t.Category, name="list_category")


def _person(person: Any, role: str) -> tuple[Any, ...]:
    """The columns a person's label is made of (:func:`bot.views.person_label`), named
    ``<role>_id``, ``<role>_email``, ...: requester and assignee are both people."""
    columns = ("id", "email", "slack_user_id", "name")
    return tuple(getattr(person, column).label(f"{role}_{column}") for column in columns)


def _views(unit: Unit, statement: Select[Any]) -> list[TicketView]:
    """The tickets a filtered select picks, in its order, as views: one query with the
    people's, team's and category's names joined, one for the tags, one for the custom
    fields. Rows, not ORM objects: a list only reads, and hydrating tickets with their
    eagerly loaded relations (followers too) was most of a list's time.
    """
    ticket = t.Ticket
    rows = unit.session.execute(
        statement.with_only_columns(
            ticket.id,
            ticket.subject,
            ticket.description,
            ticket.status,
            ticket.priority,
            ticket.channel,
            *_person(_REQUESTER, "requester"),
            *_person(_ASSIGNEE, "assignee"),
            _TEAM.name.label("team"),
            _CATEGORY.path.label("category"),
            ticket.merged_into_id,
            ticket.created_at,
            ticket.updated_at,
            ticket.sla_status,
            ticket.first_response_due,
            ticket.resolution_due,
            ticket.escalation_level,
            ticket.expired_at,
        )
        .join(_REQUESTER, _REQUESTER.id == ticket.requester_id)
        .outerjoin(_ASSIGNEE, _ASSIGNEE.id == ticket.assignee_id)
        .outerjoin(_TEAM, _TEAM.id == ticket.team_id)
        .outerjoin(_CATEGORY, _CATEGORY.id == ticket.category_id)
    ).all()
    ids = [row.id for row in rows]
    tags: dict[int, list[str]] = {}
    if ids:
        for ticket_id, name in unit.session.execute(
            select(t.ticket_tags.c.ticket_id, t.Tag.name)
            .join(t.Tag, t.Tag.id == t.ticket_tags.c.tag_id)
            .where(t.ticket_tags.c.ticket_id.in_(ids))
        ):
            tags.setdefault(ticket_id, []).append(name)
    values = classify.fields_of(unit, ids) if ids else {}
    prefix = unit.settings.ticket_prefix
    return [
        TicketView(
            id=row.id,
            number=format_number(prefix, row.id),
            subject=row.subject,
            description=row.description,
            status=row.status,
            priority=row.priority,
            channel=row.channel,
            requester=person_label(
                row.requester_id, row.requester_email, row.requester_slack_user_id, row.requester_name
            ),
            assignee=(
                person_label(
                    row.assignee_id, row.assignee_email, row.assignee_slack_user_id, row.assignee_name
                )
                if row.assignee_id is not None
                else None
            ),
            team=row.team,
            category=row.category,
            tags=tuple(sorted(tags.get(row.id, ()))),
            custom_fields=dict(values.get(row.id) or {}),
            merged_into=format_number(prefix, row.merged_into_id) if row.merged_into_id else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
            sla_status=row.sla_status,
            first_response_due=row.first_response_due,
            resolution_due=row.resolution_due,
            escalation_level=row.escalation_level,
            expired_at=row.expired_at,
        )
        for row in rows
    ]


def filtered(unit: Unit, query: TicketFilter) -> Select[t.Ticket]:
    """The tickets ``query`` selects, in its order, without limit or offset."""
    order = sorting.parse(query.sort)
    statement = select(t.Ticket).order_by(*sorting.order_by(order))
    if query.text is not None:
        dialect = unit.session.get_bind().dialect.name
        statement = statement.where(
            t.Ticket.id.in_(search.matching_ids(dialect, query.text, public_only=query.text_public_only))
        )
    if query.status:
        statement = statement.where(t.Ticket.status == parse_status(query.status).value)
    if query.priority:
        statement = statement.where(t.Ticket.priority == parse_priority(query.priority).value)
    if query.assignee:
        if query.assignee.lower() == "none":
            statement = statement.where(t.Ticket.assignee_id.is_(None))
        else:
            assignee = aliased(t.Person)
            statement = statement.join(assignee, t.Ticket.assignee_id == assignee.id).where(
                assignee.email == directory.normalize_email(query.assignee)
            )
    if query.requester:
        requester = aliased(t.Person)
        statement = statement.join(requester, t.Ticket.requester_id == requester.id).where(
            requester.email == directory.normalize_email(query.requester)
        )
    if query.tag:
        statement = statement.where(t.Ticket.tags.any(t.Tag.name == clean_tag(query.tag)))
    if query.requester_id is not None:
        statement = statement.where(t.Ticket.requester_id == query.requester_id)
    if query.assignee_id is not None:
        statement = statement.where(t.Ticket.assignee_id == query.assignee_id)
    if query.open_only:
        statement = statement.where(t.Ticket.status.in_(tickets.OPEN_STATUSES))
    if query.category:
        statement = statement.where(
            t.Ticket.category_id.in_(select(t.Category.id).where(t.Category.path == query.category.strip()))
        )
    if query.sla_status:
        sla_status = parse_sla_status(query.sla_status)
        statement = statement.where(t.Ticket.sla_status == sla_status)
        if sla_status in ("at_risk", "breached"):  # the partial index's condition, to the letter
            statement = statement.where(text(t.SLA_ATTENTION))
    if query.team:
        statement = statement.where(
            t.Ticket.team_id.in_(select(t.Team.id).where(t.Team.name == query.team.strip()))
        )
    if query.created_after is not None:
        statement = statement.where(t.Ticket.created_at >= query.created_after)
    if query.created_before is not None:
        statement = statement.where(t.Ticket.created_at < query.created_before)
    if query.updated_after is not None:
        statement = statement.where(t.Ticket.updated_at >= query.updated_after)
    if query.updated_before is not None:
        statement = statement.where(t.Ticket.updated_at < query.updated_before)
    if query.after is not None:
        statement = statement.where(sorting.after(order, query.after))
    return statement


def parse_sla_status(value: str) -> str:
    try:
        return SlaStatus(value.strip().lower()).value
    except ValueError:
        raise UserError(
            f"unknown SLA status {value!r}; use one of: {', '.join(SlaStatus)}", field="sla_status"
        ) from None


SCOPES = ("mine", "open", "all", "requested", "assigned")


def tickets_for(unit: Unit, actor: Actor, scope: str, limit: int = 20) -> list[TicketView]:
    """What a person may list: ``mine`` (open, asked by or assigned to them), ``requested`` and
    ``assigned`` (open), ``open`` and ``all``; a requester's ``open`` and ``all`` are their own."""
    if scope not in SCOPES:
        raise UserError(f"unknown list {scope!r}; use one of: {', '.join(SCOPES)}", field="scope")
    me = actor.person_id
    if me is None:
        raise UserError("only a person has tickets of their own", field="scope")
    if scope in ("open", "all") and actor.role.is_staff:
        return list_tickets(unit, TicketFilter(open_only=scope == "open", limit=limit))
    if scope in ("open", "all", "requested"):
        open_only = scope != "all"
        return list_tickets(unit, TicketFilter(requester_id=me, open_only=open_only, limit=limit))
    if scope == "assigned":
        return list_tickets(unit, TicketFilter(assignee_id=me, open_only=True, limit=limit))
    mine = list_tickets(unit, TicketFilter(requester_id=me, open_only=True, limit=limit))
    mine += list_tickets(unit, TicketFilter(assignee_id=me, open_only=True, limit=limit))
    unique = {view.id: view for view in mine}
    return sorted(unique.values(), key=lambda view: view.id, reverse=True)[:limit]


def ticket_view(unit: Unit, ticket: t.Ticket) -> TicketView:
    return TicketView.of(ticket, unit.settings.ticket_prefix, classify.field_values(unit, ticket.id))


def ticket_card(unit: Unit, ticket_id: int) -> CardView:
    """Read when the card is sent, not when it was queued: one send shows every change so far."""
    ticket = tickets.get(unit, ticket_id, lock=False)
    _, due = sla_track.running_due(ticket)
    return CardView(
        ticket=ticket_view(unit, ticket),
        requester_slack_id=ticket.requester.slack_user_id,
        assignee_slack_id=ticket.assignee.slack_user_id if ticket.assignee else None,
        sla_due=due,
    )


def visible_ticket(unit: Unit, actor: Actor, number: str) -> TicketDetail:
    """Agents see everything; a requester sees their own tickets, without internal notes or the log."""
    if actor.role.is_staff:
        return _full_detail(unit, number)
    # Checked before anything else is read: someone else's ticket is answered as a missing one.
    require_party(actor, tickets.get(unit, number, lock=False), unit.settings.ticket_prefix)
    detail = _full_detail(unit, number)
    return replace(
        detail, comments=tuple(c for c in detail.comments if c.public and not c.flagged), events=()
    )


def _full_detail(unit: Unit, number: str) -> TicketDetail:
    ticket = tickets.get(unit, number, lock=False)
    comments = unit.session.scalars(
        select(t.Comment).where(t.Comment.ticket_id == ticket.id).order_by(t.Comment.created_at, t.Comment.id)
    ).all()
    files: dict[int, list[AttachmentView]] = {}
    for row in unit.session.scalars(
        select(t.Attachment).where(t.Attachment.ticket_id == ticket.id).order_by(t.Attachment.id)
    ):
        if row.comment_id is not None:
            files.setdefault(row.comment_id, []).append(AttachmentView.of(row))
    audit.write_pending(unit)  # a change just made in this transaction shows in its history
    events = unit.session.scalars(
        select(t.Event).where(t.Event.ticket_id == ticket.id).order_by(t.Event.id)
    ).all()
    return TicketDetail(
        ticket=ticket_view(unit, ticket),
        comments=tuple(comment_view(c, unit.settings.ticket_prefix, files.get(c.id, ())) for c in comments),
        events=tuple(EventView(e.id, e.actor, e.kind, e.before, e.after, e.created_at) for e in events),
    )


def comment_view(c: t.Comment, prefix: str, attachments: Sequence[AttachmentView] = ()) -> CommentView:
    return CommentView(
        id=c.id,
        ticket_number=format_number(prefix, c.ticket_id),
        author=(c.author.email or c.author.slack_user_id or c.author.name) if c.author else None,
        body=c.body,
        public=c.public,
        flagged=c.flagged,
        channel=c.channel,
        created_at=c.created_at,
        attachments=tuple(attachments),
        full_body=c.full_body,
        source_sha256=c.source_sha256,
    )


def list_people(unit: Unit, role: str | None = None) -> list[PersonView]:
    statement = select(t.Person).order_by(t.Person.email)
    if role:
        statement = statement.where(t.Person.role == role)
    return [PersonView.of(person) for person in unit.session.scalars(statement).unique()]


def work_choices(unit: Unit) -> WorkChoices:
    """What a workspace page offers to choose from, in one read: the staff by name, the
    categories, the teams, the custom fields."""
    staff = unit.session.scalars(
        select(t.Person).where(t.Person.role.in_((Role.AGENT.value, Role.ADMIN.value)))
    ).unique()
    return WorkChoices(
        staff=tuple(sorted((PersonView.of(p) for p in staff), key=lambda p: (p.name or p.label).lower())),
        categories=tuple(unit.session.scalars(select(t.Category.path).order_by(t.Category.path))),
        teams=tuple(unit.session.scalars(select(t.Team.name).order_by(t.Team.name))),
        fields=tuple(list_fields(unit)),
    )


def list_teams(unit: Unit) -> list[dict[str, object]]:
    teams = unit.session.scalars(select(t.Team).order_by(t.Team.name)).all()
    members: dict[int, list[str]] = {}
    for person in unit.session.scalars(select(t.Person).where(t.Person.team_id.is_not(None))).unique():
        if person.team_id is not None:
            members.setdefault(person.team_id, []).append(person.email or person.name)
    return [{"name": team.name, "members": sorted(members.get(team.id, []))} for team in teams]


def list_categories(unit: Unit) -> list[dict[str, object]]:
    teams = {team.id: team.name for team in unit.session.scalars(select(t.Team))}
    return [
        {"path": row.path, "team": teams.get(row.team_id) if row.team_id else None}
        for row in unit.session.scalars(select(t.Category).order_by(t.Category.path))
    ]


def list_fields(unit: Unit) -> list[dict[str, object]]:
    return [
        {
            "key": row.key,
            "label": row.label,
            "type": row.type,
            "required": row.required,
            "options": row.options,
        }
        for row in unit.session.scalars(select(t.CustomField).order_by(t.CustomField.key))
    ]
