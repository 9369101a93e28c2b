"""``/tickets``: create, list, read, change, merge, escalate; comments; the SLA state.

Each endpoint translates the request, calls one desk method and translates
the answer; the rules (who may do what) are the core's. Endpoints are plain
functions: FastAPI runs them in its thread pool, off the event loop.
Requesters get 404, not 403, for tickets that are not theirs, so a number
does not tell them whether the ticket exists.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import AfterValidator, AwareDatetime

from bot.desk.facade import Desk
from bot.errors import Forbidden, UserError
from bot.messages import Identity, Inbound
from bot.model import Actor, parse_priority, parse_status
from bot.read import cursors, sorting
from bot.read.queries import TicketFilter
from bot.tickets.classify import TicketChanges
from bot.views import TicketView, to_jsonable
from channels.http.auth import CurrentActor, CurrentDesk
from channels.http.errors import Malformed
from channels.http.schemas import (
    CommentIn,
    CommentOut,
    ErrorOut,
    EscalateIn,
    MergeIn,
    SlaOut,
    TicketDetailOut,
    TicketIn,
    TicketOut,
    TicketPage,
    TicketPatch,
    no_nul,
)

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 413, 422, 503)
}
router = APIRouter(prefix="/tickets", tags=["tickets"], responses=ERRORS)

QueryText = Annotated[str | None, Query(max_length=320), AfterValidator(no_nul)]
QueryTime = Annotated[AwareDatetime | None, Query()]
IdempotencyKey = Annotated[
    str | None,
    Header(max_length=200, description="The same key on a retry: nothing is written twice."),
    AfterValidator(no_nul),
]


def _visible(desk: Desk, actor: Actor, number: str) -> None:
    """A requester's request on someone else's ticket ends here, as 404."""
    if not actor.role.is_staff:
        desk.visible_ticket(actor, number)


def _out(view: TicketView) -> dict[str, Any]:
    out: dict[str, Any] = to_jsonable(view)
    return out


@router.post("", status_code=201, response_model=TicketOut)
def create_ticket(
    body: TicketIn,
    actor: CurrentActor,
    desk: CurrentDesk,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """A retry with the same ``Idempotency-Key`` answers with the ticket the first one opened."""
    for_someone = body.requester and body.requester.strip().lower() != actor.label.lower()
    if for_someone and not actor.role.is_staff:
        raise Forbidden("requesters open tickets for themselves only", field="requester")
    receipt = desk.receive(
        Inbound(
            channel="api",
            authenticated=True,  # the API token's person, or someone they open it for
            sender=Identity(email=body.requester if for_someone else actor.label),
            submitted_by=Identity(email=actor.label) if for_someone else None,
            subject=body.subject,
            text=body.description,
            key=f"api:{actor.person_id}:{idempotency_key}" if idempotency_key else None,
            priority=body.priority,
            category=body.category,
            fields=body.fields,
            new_only=True,
        )
    )
    if receipt.ticket_number is None:  # receive never drops an API message that may open a ticket
        raise RuntimeError(f"receive kept no ticket: {receipt.rule}")
    if not receipt.created:
        response.status_code = 200
    # The ticket this request opened (or its retry found): the caller's own, read as it stands.
    return _out(desk.visible_ticket(Actor.system(), receipt.ticket_number).ticket)


def ticket_filter(
    actor: CurrentActor,
    status: QueryText = None,
    priority: QueryText = None,
    category: QueryText = None,
    assignee: Annotated[QueryText, Query(description="Email, or `none` for unassigned")] = None,
    requester: QueryText = None,
    tag: QueryText = None,
    sla_status: QueryText = None,
    created_after: QueryTime = None,
    created_before: QueryTime = None,
    updated_after: QueryTime = None,
    updated_before: QueryTime = None,
) -> TicketFilter:
    """The list filters of the query string, shared by every endpoint that lists tickets;
    a requester's are narrowed to their own tickets."""
    return TicketFilter(
        status=status,
        priority=priority,
        category=category,
        assignee=assignee,
        requester=requester,
        tag=tag,
        sla_status=sla_status,
        requester_id=None if actor.role.is_staff else actor.person_id,
        created_after=utc(created_after, "created_after"),
        created_before=utc(created_before, "created_before"),
        updated_after=utc(updated_after, "updated_after"),
        updated_before=utc(updated_before, "updated_before"),
    )


Filters = Annotated[TicketFilter, Depends(ticket_filter)]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=100)]
# bot.read.sorting.names(), spelled out for the OpenAPI document (a test keeps the two the same).
SortName = Literal[
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "priority",
    "-priority",
    "number",
    "-number",
    "due",
    "-due",
]
SORT_HELP = (
    "A key, with a leading `-` for descending: `created_at`, `updated_at`, `priority` "
    "(`-priority`: urgent first), `number`, `due` (the running SLA target's due time; "
    "tickets without one last). Default `-number`: newest first. A cursor pages only "
    "the sort it came from."
)
Sort = Annotated[SortName | None, Query(description=SORT_HELP)]


def page(desk: Desk, query: TicketFilter, limit: int, cursor: str | None) -> dict[str, Any]:
    """One page in the query's order, with the cursor of the next one."""
    order = sorting.parse(query.sort)
    views = desk.list_tickets(
        replace(query, after=decode_cursor(cursor) if cursor else None, limit=limit + 1)
    )
    more = len(views) > limit
    views = views[:limit]
    return {
        "items": [_out(view) for view in views],
        "next_cursor": encode_cursor(sorting.position_of(order, views[-1])) if more else None,
    }


@router.get("", response_model=TicketPage)
def list_tickets(
    desk: CurrentDesk, query: Filters, limit: Limit = 50, cursor: Cursor = None, sort: Sort = None
) -> dict[str, Any]:
    """Newest first unless ``sort`` says otherwise; ``next_cursor`` fetches the next page.
    Requesters list their own tickets."""
    return page(desk, replace(query, sort=sort), limit, cursor)


@router.get("/{number}", response_model=TicketDetailOut)
def get_ticket(number: str, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """Requesters see their own tickets, without internal comments or the audit trail."""
    detail: dict[str, Any] = to_jsonable(desk.visible_ticket(actor, number))
    return detail


@router.get("/{number}/sla", response_model=SlaOut)
def ticket_sla(number: str, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    ticket = desk.visible_ticket(actor, number).ticket
    return {
        "sla_status": ticket.sla_status,
        "first_response_due": ticket.first_response_due,
        "resolution_due": ticket.resolution_due,
        "escalation_level": ticket.escalation_level,
    }


@router.patch("/{number}", response_model=TicketOut)
def change_ticket(number: str, body: TicketPatch, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """All changes or none. ``assignee: null`` unassigns, ``category: null`` clears it;
    requesters may only resolve, close or reopen their own tickets."""
    _visible(desk, actor, number)
    given = body.model_fields_set
    changes = TicketChanges(
        priority=parse_priority(body.priority) if body.priority is not None else None,
        category=(body.category or "") if "category" in given else None,
        team=(body.team or "") if "team" in given else None,
        add_tags=body.add_tags,
        remove_tags=body.remove_tags,
        fields=body.fields,
    )
    view = desk.change_ticket(
        actor,
        number,
        changes,
        status=parse_status(body.status) if body.status is not None else None,
        assign="assignee" in given,
        assignee=body.assignee,
    )
    return _out(view)


@router.post("/{number}/merge", response_model=TicketOut)
def merge_ticket(number: str, body: MergeIn, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """Merge this ticket into ``into``; the answer is the ticket that lives on."""
    _visible(desk, actor, number)
    return _out(desk.merge(actor, number, body.into))


@router.post("/{number}/escalate", response_model=TicketOut)
def escalate_ticket(number: str, body: EscalateIn, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    _visible(desk, actor, number)
    return _out(desk.escalate(actor, number, body.reason))


@router.get("/{number}/comments", response_model=list[CommentOut])
def list_comments(number: str, actor: CurrentActor, desk: CurrentDesk) -> list[Any]:
    """Oldest first; internal comments only for agents and admins."""
    comments: list[Any] = to_jsonable(desk.visible_ticket(actor, number).comments)
    return comments


@router.post("/{number}/comments", status_code=201, response_model=CommentOut)
def add_comment(
    number: str,
    body: CommentIn,
    actor: CurrentActor,
    desk: CurrentDesk,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """``public: false`` writes an internal note (agents and admins only). A retry with the
    same ``Idempotency-Key`` answers as the first did, 201 with the comment it wrote (the same
    id), and writes nothing; the key used again for a different comment is a 409."""
    _visible(desk, actor, number)
    view = desk.comment(
        actor,
        number,
        body.body,
        public=body.public,
        channel="api",
        # Apart from create's keys (``api:<person>:<key>``): a key is one request's, per endpoint.
        external_id=f"api-comment:{actor.person_id}:{idempotency_key}" if idempotency_key else None,
    )
    comment: dict[str, Any] = to_jsonable(view)
    return comment


def utc(value: datetime | None, field: str) -> datetime | None:
    try:
        return value.astimezone(UTC) if value is not None else None
    except OverflowError:
        raise Malformed(f"{field} is out of range", field=field) from None


def encode_cursor(at: sorting.Position | int) -> str:
    return cursors.encode(at)


def decode_cursor(cursor: str) -> sorting.Position:
    """The core's cursor, refused as the API refuses what it cannot read (400)."""
    try:
        return cursors.decode(cursor)
    except UserError:
        raise Malformed("not a cursor this API handed out", field="cursor") from None
