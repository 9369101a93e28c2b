"""``/tickets/search``, ``/tickets/bulk`` and ``/tickets/export``: many tickets per request.

Search is the ticket list with words to match; bulk runs the same change as PATCH on each
ticket, each in its own transaction, and reports per ticket; export streams the list as CSV
or JSON Lines without holding it in memory. Bulk and export are for agents and admins.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from itertools import chain, islice
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, Field

from bot.errors import Forbidden, UserError
from bot.model import Actor, parse_priority, parse_status
from bot.read import search
from bot.read.queries import TicketFilter
from bot.tickets.classify import TicketChanges
from bot.views import TicketView, to_jsonable
from channels.http.auth import CurrentActor, CurrentDesk
from channels.http.errors import status_of
from channels.http.schemas import Str, Strict, TicketPage
from channels.http.tickets import ERRORS, Cursor, Filters, Limit, Sort, page, utc

router = APIRouter(prefix="/tickets", tags=["tickets"], responses=ERRORS)

MAX_BULK = 1000
EXPORT_BATCH = 500  # rows per chunk written to the client
EXPORT_COLUMNS = (
    "number",
    "subject",
    "status",
    "priority",
    "channel",
    "requester",
    "assignee",
    "team",
    "category",
    "tags",
    "merged_into",
    "created_at",
    "updated_at",
    "sla_status",
    "first_response_due",
    "resolution_due",
    "escalation_level",
    "custom_fields",
    "description",
)


class BulkFilter(Strict):
    """The keys of the list filters (``GET /tickets``)."""

    status: Str | None = Field(default=None, max_length=320)
    priority: Str | None = Field(default=None, max_length=320)
    category: Str | None = Field(default=None, max_length=320)
    assignee: Str | None = Field(default=None, max_length=320, description="Email, or `none`.")
    requester: Str | None = Field(default=None, max_length=320)
    tag: Str | None = Field(default=None, max_length=320)
    sla_status: Str | None = Field(default=None, max_length=320)
    created_after: AwareDatetime | None = None
    created_before: AwareDatetime | None = None
    updated_after: AwareDatetime | None = None
    updated_before: AwareDatetime | None = None


class BulkChanges(Strict):
    status: Str | None = Field(default=None, max_length=30)
    priority: Str | None = Field(default=None, max_length=20)
    assignee: Str | None = Field(default=None, max_length=320, description="Email; null unassigns.")
    add_tags: list[Str] = Field(default_factory=list, max_length=100)
    remove_tags: list[Str] = Field(default_factory=list, max_length=100)


class BulkIn(Strict):
    numbers: list[Annotated[Str, Field(max_length=50)]] | None = Field(
        default=None, min_length=1, max_length=MAX_BULK
    )
    filter: BulkFilter | None = Field(default=None, description=f"At most {MAX_BULK} tickets.")
    changes: BulkChanges


class BulkResult(BaseModel):
    number: str
    ok: bool
    status_code: int
    error: str | None = None


class BulkOut(BaseModel):
    results: list[BulkResult]


@router.get("/search", response_model=TicketPage)
def search_tickets(
    actor: CurrentActor,
    desk: CurrentDesk,
    query: Filters,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Sort = None,
) -> dict[str, Any]:
    """Tickets whose subject, description or a comment has every word of ``q``, newest first
    unless ``sort`` says otherwise, with the list filters. Requesters search their own tickets,
    internal notes left out."""
    if not search.words(q):
        raise UserError("q has no words to search for", field="q")
    found = replace(query, text=q, text_public_only=not actor.role.is_staff, sort=sort)
    return page(desk, found, limit, cursor)


@router.post("/bulk", response_model=BulkOut)
def bulk_change(body: BulkIn, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """The same change on each ticket, each in its own transaction: one refused change
    (a transition the workflow forbids) leaves the others done, and the results say which."""
    _staff_only(actor, "bulk changes")
    changes, given = body.changes, body.changes.model_fields_set
    status = parse_status(changes.status) if changes.status is not None else None
    classification = TicketChanges(
        priority=parse_priority(changes.priority) if changes.priority is not None else None,
        add_tags=changes.add_tags,
        remove_tags=changes.remove_tags,
    )
    results = []
    for number in _selected(desk, body):
        try:
            desk.change_ticket(
                actor,
                number,
                classification,
                status=status,
                assign="assignee" in given,
                assignee=changes.assignee,
            )
        except UserError as error:
            results.append(
                {"number": number, "ok": False, "status_code": status_of(error), "error": error.message}
            )
        else:
            results.append({"number": number, "ok": True, "status_code": 200})
    return {"results": results}


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/jsonl": {}}}},
)
def export_tickets(
    actor: CurrentActor,
    desk: CurrentDesk,
    query: Filters,
    format: Annotated[Literal["csv", "jsonl"], Query()] = "csv",
) -> StreamingResponse:
    """Every ticket the filters select, newest first, streamed as it is read."""
    _staff_only(actor, "exports")
    rows = desk.export_tickets(query)
    # Read the first row here, so a bad filter is a 4xx, not a stream cut short.
    first = list(islice(rows, 1))
    views = chain(first, rows)
    if format == "jsonl":
        return StreamingResponse(_jsonl(views), media_type="application/jsonl")
    return StreamingResponse(
        _csv(views),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="tickets.csv"'},
    )


def _staff_only(actor: Actor, what: str) -> None:
    if not actor.role.is_staff:
        raise Forbidden(f"{what} are for agents and admins")


def _selected(desk: CurrentDesk, body: BulkIn) -> list[str]:
    if (body.numbers is None) == (body.filter is None):
        raise UserError("give either numbers or filter", field="numbers")
    if body.numbers is not None:
        return list(dict.fromkeys(number.strip() for number in body.numbers))
    assert body.filter is not None
    given = body.filter
    query = TicketFilter(
        status=given.status,
        priority=given.priority,
        category=given.category,
        assignee=given.assignee,
        requester=given.requester,
        tag=given.tag,
        sla_status=given.sla_status,
        created_after=utc(given.created_after, "filter.created_after"),
        created_before=utc(given.created_before, "filter.created_before"),
        updated_after=utc(given.updated_after, "filter.updated_after"),
        updated_before=utc(given.updated_before, "filter.updated_before"),
        limit=MAX_BULK + 1,
    )
    views = desk.list_tickets(query)
    if len(views) > MAX_BULK:
        raise UserError(f"the filter selects more than {MAX_BULK} tickets; narrow it", field="filter")
    return [view.number for view in views]


def _batches(views: Iterable[TicketView]) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(views)
    while batch := [to_jsonable(view) for view in islice(iterator, EXPORT_BATCH)]:
        yield batch


def _jsonl(views: Iterable[TicketView]) -> Iterator[str]:
    for batch in _batches(views):
        yield "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in batch)


def _csv(views: Iterable[TicketView]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    yield buffer.getvalue()
    for batch in _batches(views):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([_cell(row.get(column)) for column in EXPORT_COLUMNS] for row in batch)
        yield buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    text = str(value)
    # A cell a spreadsheet would run as a formula is quoted with a leading apostrophe.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
