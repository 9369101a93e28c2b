"""Suspended mail in the agents' workspace: the held messages with their reasons, one
message read as text, its raw source downloaded, and releasing or deleting them.

Staff only: a requester asking for any page here is told there is no such page. Each page
calls the desk method the API and the CLI call, so who may do what stays the desk's. The
list works without JavaScript: boxes ticked in its form are released or deleted, and the
answer names what became of each. Deleting every message a search selects takes a ticked
confirmation, since nothing brings deleted mail back.

Everything a message carries is a stranger's: its text is shown as text (escaped, never
as HTML), its headers likewise, and its source is only ever a download.
"""

from __future__ import annotations

from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.desk.facade import Desk
from bot.errors import NotFound, UserError
from bot.model import Actor
from bot.tickets.held_mail import MAX_QUERY, HeldFilter
from bot.tickets.suspension import REASONS
from channels.web import downloads, forms
from channels.web.held_count import HeldCount
from channels.web.site import Site, guarded, local_path

BASE = "/desk/suspended"
PAGE = 50
MAX_SELECTED = 100  # a page's worth, well within a form's fields (site.MAX_FIELDS)
MAX_ID = 2**31 - 1
REASON_LABELS = {"spam": "Spam", "banned": "Banned sender", "burst": "Flood", "failed": "Failed"}
# The headers an agent judges a message by; the whole of them is in the source.
SHOWN_HEADERS = frozenset({"from", "reply-to", "to", "cc", "date", "message-id", "return-path"})
VERDICT_PREFIXES = ("x-spam", "x-rspamd", "authentication-results", "x-auto-response-suppress")
MAX_HEADERS = 30
MAX_HEADER_TEXT = 1000


class Listing:
    """The list page's query string: which messages, and the links that keep the choice."""

    def __init__(self, request: Request) -> None:
        params = request.query_params
        reason = params.get("reason", "")[:20]
        self.reason = reason if reason in REASONS else ""
        self.released = params.get("released", "") == "1"
        self.q = params.get("q", "")[:MAX_QUERY].strip()
        self.before = _row_id(params.get("before", "")[:12])

    def filter(self) -> HeldFilter:
        return HeldFilter(self.q or None, self.reason or None, self.released)

    def url(self, **changes: Any) -> str:
        values: dict[str, Any] = {
            "reason": self.reason,
            "released": "1" if self.released else "",
            "q": self.q,
            "before": self.before or "",
        }
        values.update(changes)
        query = urlencode({name: value for name, value in values.items() if value})
        return f"{BASE}?{query}" if query else BASE

    @property
    def narrowed(self) -> bool:
        return bool(self.q.split()) or bool(self.reason)


def routes(site: Site, held: HeldCount) -> list[BaseRoute]:
    desk = site.desk

    async def list_page(request: Request) -> Response:
        actor = forms.person((await site.signed_in(request, staff=True)).actor)
        listing = Listing(request)
        context = await site.call(_list_context, desk, actor, listing)
        held.keep(context["counts"])
        context["held_count"] = sum(context["counts"].values())
        return site.page(request, "desk/suspended.html", context, 422 if context["error"] else 200)

    async def message_page(request: Request) -> Response:
        actor = forms.person((await site.signed_in(request, staff=True)).actor)
        held_id = _path_id(request)
        view = await site.call(desk.suspended_message, actor, held_id)
        source = await site.call(desk.suspended_source, actor, held_id)
        context = {
            "message": view,
            "headers": headers_of(source) if source is not None else [],
            "has_source": source is not None,
            "labels": REASON_LABELS,
            "back": _back(request.query_params.get("back")),
            "held_count": await site.call(held.total, actor),
        }
        return site.page(request, "desk/suspended_message.html", context)

    async def source_download(request: Request) -> Response:
        actor = forms.person((await site.signed_in(request, staff=True)).actor)
        held_id = _path_id(request)
        source = await site.call(desk.suspended_source, actor, held_id)
        if source is None:
            raise NotFound(f"suspended message {held_id} has no raw source kept")
        response = downloads.download_bytes(source, f"suspended-{held_id}.eml", "message/rfc822")
        return site.finish(request, response)

    async def act(request: Request) -> Response:
        """The ticked boxes (``ids``), released or deleted (``action``)."""
        actor = forms.person((await site.signed_in(request, staff=True)).actor)
        values = await site.form_values(request)
        action = forms.one(values, "action", 20)
        back = _back(forms.one(values, "back", 2000))
        context: dict[str, Any] = {"action": action, "back": back, "results": [], "deleted": None}
        try:
            ids = _ids(values.get("ids", []))
            if action == "release":
                context["results"] = await site.call(desk.release_suspended, actor, ids)
            elif action == "delete":
                context["deleted"] = await site.call(desk.delete_suspended, actor, ids=ids)
            else:
                raise UserError("Choose whether to release or delete the selected messages.")
        except UserError as refused:
            context["error"] = refused.message
        held.forget()
        context["held_count"] = await site.call(held.total, actor)
        status = 422 if context.get("error") else 200
        return site.page(request, "desk/suspended_done.html", context, status)

    async def delete_matching(request: Request) -> Response:
        """Every held message the search selects (with neither words nor reason: all held)."""
        actor = forms.person((await site.signed_in(request, staff=True)).actor)
        values = await site.form_values(request)
        reason = forms.one(values, "reason", 20)
        words = forms.one(values, "q", MAX_QUERY + 1)
        back = _back(forms.one(values, "back", 2000))
        context: dict[str, Any] = {"action": "delete", "back": back, "results": [], "deleted": None}
        if forms.one(values, "confirm", 10) != "yes":
            context["error"] = "Tick the box to confirm: deleted mail cannot be brought back."
        else:
            try:
                chosen = HeldFilter(words or None, reason or None)
                context["deleted"] = await site.call(desk.delete_suspended, actor, held=chosen)
            except UserError as refused:
                context["error"] = refused.message
        held.forget()
        context["held_count"] = await site.call(held.total, actor)
        status = 422 if context.get("error") else 200
        return site.page(request, "desk/suspended_done.html", context, status)

    return [
        Route(BASE, guarded(site, list_page), methods=["GET"]),
        Route(f"{BASE}/act", guarded(site, act), methods=["POST"]),
        Route(f"{BASE}/delete-matching", guarded(site, delete_matching), methods=["POST"]),
        Route(BASE + "/{held_id:int}", guarded(site, message_page), methods=["GET"]),
        Route(BASE + "/{held_id:int}/source", guarded(site, source_download), methods=["GET"]),
    ]


def _list_context(desk: Desk, actor: Actor, listing: Listing) -> dict[str, Any]:
    counts = desk.suspended_counts(actor)
    messages: list[Any] = []
    older, error = None, None
    try:
        found = desk.suspended_mail(actor, listing.filter(), before_id=listing.before, limit=PAGE + 1)
        messages = found[:PAGE]
        older = messages[-1].id if len(found) > PAGE else None
    except UserError as refused:
        error = refused.message
    return {
        "listing": listing,
        "counts": counts,
        "messages": messages,
        "older": older,
        "error": error,
        "labels": REASON_LABELS,
    }


def _back(target: str | None) -> str:
    """Where "back" leads: a page of suspended mail on this site, never anywhere else."""
    path = local_path(target, BASE)
    return path if path == BASE or path.startswith((f"{BASE}?", f"{BASE}/")) else BASE


def _path_id(request: Request) -> int:
    held_id: int = request.path_params["held_id"]
    if not 0 < held_id <= MAX_ID:
        raise NotFound(f"no suspended message {held_id}")
    return held_id


def _ids(given: list[str]) -> list[int]:
    ids = [value.strip() for value in given if value.strip()]
    if not ids:
        raise UserError("Select at least one message.")
    if len(ids) > MAX_SELECTED:
        raise UserError(f"Select at most {MAX_SELECTED} messages at a time.")
    chosen = [_row_id(value) for value in ids]
    if None in chosen:
        raise UserError("The selection names no message.")
    return [value for value in dict.fromkeys(chosen) if value is not None]


def _row_id(text: str) -> int | None:
    """A row's id as a form or a link gives it; None for anything that cannot be one."""
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def headers_of(source: bytes) -> list[tuple[str, str]]:
    """The headers an agent judges a message by, decoded for reading: who it claims to be
    from and to, and what filters on the way said of it."""
    message = BytesHeaderParser(policy=compat32).parsebytes(source, headersonly=True)
    shown: list[tuple[str, str]] = []
    for name, value in message.items():
        wanted = name.lower() in SHOWN_HEADERS or name.lower().startswith(VERDICT_PREFIXES)
        if wanted and len(shown) < MAX_HEADERS:
            shown.append((name[:100], _decoded(str(value))[:MAX_HEADER_TEXT]))
    return shown


def _decoded(value: str) -> str:
    """RFC 2047 words as text; a value that is not valid as such is shown as it came."""
    try:
        text = str(make_header(decode_header(value)))
    except (HeaderParseError, UnicodeError, LookupError, ValueError):
        text = value
    return " ".join(text.split())
