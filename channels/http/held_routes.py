"""Suspended mail and the ban list over the API.

Staff find held mail (spam, a banned sender, a flood, a message that kept failing), read
it, download its raw source, release it (it is received then, acknowledgement included)
or delete it; admins keep the ban list. Each endpoint calls one desk method; who may do
what is the desk's rule.

Deleting by filter must say what it deletes: a filter with neither words nor a reason
selects every held message, and is refused unless ``"all": true`` confirms it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, Field

from bot.desk.held import MAX_RELEASE
from bot.errors import NotFound, UserError
from bot.tickets.held_mail import MAX_QUERY, HeldFilter
from bot.views import to_jsonable
from channels.http.attachments import content_disposition
from channels.http.auth import CurrentActor, CurrentDesk
from channels.http.config_routes import ERRORS
from channels.http.schemas import Str, Strict, no_nul

router = APIRouter(responses=ERRORS)
MAX_ID = 2**31 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
# The core's reasons (bot.tickets.suspension.REASONS), spelled out for the OpenAPI document.
Reason = Literal["spam", "banned", "burst", "failed"]
MAX_DELETE = 10_000


# -- bodies ------------------------------------------------------------------------------


class SuspendedOut(BaseModel):
    id: int
    reason: Reason
    detail: str = Field(description="Why it was held: the verdict header, the ban, the flood, the error.")
    sender: str | None
    sender_name: str | None
    subject: str
    mailbox: str | None = Field(description="The support address it came to.")
    size: int = Field(description="The raw message's size in bytes.")
    attachments: int
    received_at: datetime
    released_at: datetime | None
    released_by: str | None
    ticket: str | None = Field(description="What releasing it made or commented on.")
    text: str | None = Field(default=None, description="Its text: on one message's read, not in lists.")


class SuspendedPageOut(BaseModel):
    items: list[SuspendedOut]
    next: int | None = Field(description="Pass as `before` for the next page; null: this is the last.")


class SuspendedCountsOut(BaseModel):
    spam: int
    banned: int
    burst: int
    failed: int
    total: int = Field(description="Every message still held.")


class IdsIn(Strict):
    ids: list[RowId] = Field(min_length=1, max_length=MAX_RELEASE)


class ReleasedOut(BaseModel):
    id: int
    ticket: str | None = Field(description="The ticket it opened or was added to.")
    created: bool = Field(description="True: a new ticket; false: a comment on one (or an error).")
    error: str | None = Field(description="Why it was not released; it stays held.")


class ReleaseOut(BaseModel):
    released: int
    results: list[ReleasedOut]


class HeldFilterIn(Strict):
    q: Str | None = Field(
        default=None, max_length=MAX_QUERY, description="Words in subject, sender or detail."
    )
    reason: Reason | None = None
    released: bool = Field(default=False, description="Released messages instead of held ones.")


class DeleteIn(Strict):
    ids: list[RowId] | None = Field(default=None, min_length=1, max_length=MAX_DELETE)
    filter: HeldFilterIn | None = Field(default=None, description="Every message it selects, in batches.")
    all: bool = Field(default=False, description="Confirms a filter with no words or reason: everything.")


class DeletedOut(BaseModel):
    deleted: int


class BanIn(Strict):
    pattern: Str = Field(
        min_length=1, max_length=320, description="`someone@example.com`, or `example.com` (and below)."
    )
    note: Str = Field(default="", max_length=500, description="Why, for the next admin.")


class BanOut(BaseModel):
    id: int
    pattern: str
    kind: Literal["address", "domain"]
    note: str
    created_by: str | None
    created_at: datetime


# -- suspended mail ----------------------------------------------------------------------

WordsQuery = Annotated[
    str | None,
    Query(max_length=MAX_QUERY, description="Words in subject, sender or detail"),
    AfterValidator(no_nul),
]


@router.get("/suspended", tags=["suspended mail"], response_model=SuspendedPageOut)
def list_suspended(
    actor: CurrentActor,
    desk: CurrentDesk,
    q: WordsQuery = None,
    reason: Reason | None = None,
    released: Annotated[bool, Query(description="Released messages instead of held ones")] = False,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="`next` of the page before")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Staff: held mail, newest first."""
    held = desk.suspended_mail(actor, HeldFilter(q or None, reason, released), before_id=before, limit=limit)
    return {"items": to_jsonable(held), "next": held[-1].id if len(held) == limit else None}


@router.get("/suspended/counts", tags=["suspended mail"], response_model=SuspendedCountsOut)
def suspended_counts(actor: CurrentActor, desk: CurrentDesk) -> dict[str, int]:
    """Staff: messages still held, by reason."""
    counts = desk.suspended_counts(actor)
    return {**counts, "total": sum(counts.values())}


@router.post("/suspended/release", tags=["suspended mail"], response_model=ReleaseOut)
def release_suspended(body: IdsIn, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """Staff: each message is received as it came, in its own transaction, and acknowledged
    then. One that cannot be (unknown, already released, failing again) says why in its
    result and the others go on."""
    results = desk.release_suspended(actor, body.ids)
    return {
        "released": sum(1 for result in results if result.error is None),
        "results": to_jsonable(results),
    }


@router.post("/suspended/delete", tags=["suspended mail"], response_model=DeletedOut)
def delete_suspended(body: DeleteIn, actor: CurrentActor, desk: CurrentDesk) -> dict[str, int]:
    """Staff: the messages named by `ids`, or every one `filter` selects. A filter with
    neither `q` nor `reason` selects every held (or released) message: it needs `"all": true`."""
    if (body.ids is None) == (body.filter is None):
        raise UserError('give either "ids" or a "filter"', field="ids")
    if body.ids is not None:
        return {"deleted": desk.delete_suspended(actor, ids=body.ids)}
    assert body.filter is not None
    chosen = body.filter
    if not (chosen.q or "").split() and chosen.reason is None and not body.all:
        raise UserError('this filter selects every message: add "all": true to delete them all', field="all")
    held = HeldFilter(chosen.q or None, chosen.reason, chosen.released)
    return {"deleted": desk.delete_suspended(actor, held=held)}


@router.get("/suspended/{held_id}", tags=["suspended mail"], response_model=SuspendedOut)
def get_suspended(held_id: RowId, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """Staff: one message, with its text."""
    out: dict[str, Any] = to_jsonable(desk.suspended_message(actor, held_id))
    return out


@router.get(
    "/suspended/{held_id}/source",
    tags=["suspended mail"],
    response_class=Response,
    responses={200: {"content": {"message/rfc822": {}}}},
)
def suspended_source(held_id: RowId, actor: CurrentActor, desk: CurrentDesk) -> Response:
    """Staff: the raw message as it came, as a download (never shown inline)."""
    source = desk.suspended_source(actor, held_id)
    if source is None:
        raise NotFound(f"suspended message {held_id} has no raw source kept")
    return Response(
        source,
        media_type="message/rfc822",
        headers={
            "Content-Disposition": content_disposition(f"suspended-{held_id}.eml"),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
        },
    )


# -- the ban list ------------------------------------------------------------------------


@router.get("/bans", tags=["configuration"], response_model=list[BanOut])
def list_bans(actor: CurrentActor, desk: CurrentDesk) -> list[dict[str, Any]]:
    """Admins: banned addresses and domains, by pattern."""
    found: list[dict[str, Any]] = to_jsonable(desk.bans(actor))
    return found


@router.post("/bans", tags=["configuration"], status_code=201, response_model=BanOut)
def add_ban(body: BanIn, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """Admins: mail from the address, or the domain and its subdomains, is refused with
    `550 5.7.1` or suspended (`[email] banned_action`), in every process from this commit."""
    out: dict[str, Any] = to_jsonable(desk.ban_sender(actor, body.pattern, body.note))
    return out


@router.delete("/bans/{ban}", tags=["configuration"], response_model=BanOut)
def remove_ban(
    ban: Annotated[
        str,
        Path(min_length=1, max_length=320, description="The ban's id or pattern"),
        AfterValidator(no_nul),
    ],
    actor: CurrentActor,
    desk: CurrentDesk,
) -> dict[str, Any]:
    """Admins: lift a ban, named by its id or its pattern."""
    out: dict[str, Any] = to_jsonable(desk.unban_sender(actor, ban))
    return out
