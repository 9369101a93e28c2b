"""One ticket in the agents' workspace: the whole conversation, history, SLA clocks, and
every action an agent takes on it.

Staff only: a requester asking for any page here is told there is no such page. Every action
is a small form posting to ``/desk/tickets/N/<action>`` that calls the desk method the API (or
Slack) calls for it, so the rules stay the desk's; a refusal is shown beside the form that
asked, with the page around it as it stands. The live stream (live.py) makes the
conversation, facts and history fetch themselves again when something changed.

A reply is never lost to someone else's change: its form carries the last event its page
showed (``seen``). The reply is posted whatever happened since, and the answer names what did
("Bo replied", "Bo changed the status to resolved"), since the reply may want a second look.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.desk.facade import Desk
from bot.errors import NotFound, UserError
from bot.messages import IncomingFile
from bot.model import Actor, Priority, Role, Status, parse_priority, parse_status
from bot.read.live import NOT_CHANGES
from bot.read.retries import KEY_FIELD
from bot.sharing.service import Sharing
from bot.tickets.classify import TicketChanges
from bot.views import EventView, TicketDetail
from channels.web import downloads, forms
from channels.web.history import CHANNELS, describe, names_of
from channels.web.site import Site, guarded

# A reply or a note may carry files: the server allows these bodies max_total_bytes more.
UPLOAD_PATHS = [r"^/desk/tickets/[^/]+/(reply|note)$"]

TEXT_MAX = 100_000  # a comment, as the API takes it
WRITES = {"reply": True, "note": False}  # the action, and whether it is public
CHANGES = (
    "assign",
    "team",
    "status",
    "priority",
    "category",
    "tags",
    "fields",
    "merge",
    "escalate",
    "share",
    "unshare",
)


@dataclass(frozen=True, slots=True)
class Change:
    """One line of a ticket's history, and whether it came after the page was opened."""

    event: EventView
    text: str
    new: bool = False


def routes(site: Site) -> list[BaseRoute]:
    def number_in(request: Request) -> str:
        return forms.path_number(site.settings.ticket_prefix, request)

    desk = site.desk
    sharing = Sharing(desk)  # subscribing twice to one desk's events is harmless (bot.unit)

    async def ticket_page(request: Request) -> Response:
        actor = forms.person((await site.signed_in(request, staff=True)).actor)
        return await _ticket_page(request, actor, number_in(request))

    async def regions(request: Request) -> Response:
        """The live regions, swapped out of band: conversation, facts and history."""
        actor = forms.person((await site.signed_in(request, staff=True)).actor)
        seen = _event_id(request.query_params.get("seen"))
        context = await site.call(_ticket_context, desk, None, actor, number_in(request), seen)
        return site.page(request, "desk/_regions.html", {**context, "oob": True})

    async def download(request: Request) -> Response:
        actor = forms.person((await site.signed_in(request, staff=True)).actor)
        stored, body = await site.call(
            desk.open_file,
            actor,
            number_in(request),
            request.path_params["file_id"],
        )
        return site.finish(request, downloads.download(stored, body))

    async def act(request: Request) -> Response:
        viewer = await site.signed_in(request, staff=True)
        actor, number, action = (
            forms.person(viewer.actor),
            number_in(request),
            request.path_params["action"],
        )
        if action not in WRITES and action not in CHANGES:
            raise NotFound("no such page")
        form = await site.form(request)
        try:
            values = forms.values_of(form)
            files, file_error = await forms.read_files(form, site.settings.attachments)
        finally:
            await form.close()
        if action in WRITES:
            return await write(request, actor, number, action, values, files, file_error)
        try:
            shown = await site.call(_change, desk, sharing, actor, number, action, values)
        except UserError as error:
            return await _ticket_page(request, actor, number, errors={action: error.message}, status=422)
        return site.redirect(request, f"/desk/tickets/{quote(shown)}")

    async def write(
        request: Request,
        actor: Actor,
        number: str,
        action: str,
        values: Mapping[str, list[str]],
        files: list[IncomingFile],
        file_error: str | None,
    ) -> Response:
        """A reply or an internal note; posted even when the ticket changed since the page
        was opened, and then answered with what changed."""
        body = (values.get("body") or [""])[0]  # as written: indentation may matter
        key, seen = forms.kept_key(forms.one(values, "key", 100)), _event_id(forms.one(values, "seen"))
        error = file_error
        if error is None and len(body) > TEXT_MAX:
            error = f"Keep it under {TEXT_MAX:,} characters; attach longer text as a file."
        if error is None and not body.strip() and files:
            body = "Attached " + ", ".join(f.filename for f in files)
        if error is None and not body.strip():
            error = "Write something first."
        if error is None:
            try:
                written = await site.call(
                    lambda: desk.comment(
                        actor,
                        number,
                        body,
                        public=WRITES[action],
                        channel="web",
                        external_id=f"web-comment:{actor.person_id}:{key}",
                        files=files,
                    )
                )
            except UserError as refused:
                if refused.field == KEY_FIELD:  # this form was sent before, with other text
                    key, error = (
                        forms.new_key(),
                        "This form was sent before. Check the text and send it again.",
                    )
                else:
                    error = refused.message
            else:
                shown = written.ticket_number
                if seen is not None:
                    context = await site.call(_ticket_context, desk, sharing, actor, shown)
                    since = changed_between(context["detail"].events, seen, written.id, context["names"])
                    if since:
                        return _render_ticket(site, request, context, changes=since)
                return site.redirect(request, f"/desk/tickets/{quote(shown)}#comment-{written.id}")
        if files and error is not None:
            error += " Choose the files again: a browser does not keep them."
        drafts = {action: body}
        return await _ticket_page(
            request,
            actor,
            number,
            errors={action: error or ""},
            drafts=drafts,
            keys={action: key},
            status=422,
        )

    async def _ticket_page(
        request: Request,
        actor: Actor,
        number: str,
        *,
        errors: Mapping[str, str] | None = None,
        drafts: Mapping[str, str] | None = None,
        keys: Mapping[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        context = await site.call(_ticket_context, desk, sharing, actor, number)
        return _render_ticket(site, request, context, errors=errors, drafts=drafts, keys=keys, status=status)

    return [
        Route("/desk/tickets/{number}", guarded(site, ticket_page), methods=["GET"]),
        Route("/desk/tickets/{number}/regions", guarded(site, regions), methods=["GET"]),
        Route("/desk/tickets/{number}/files/{file_id:int}", guarded(site, download), methods=["GET"]),
        Route("/desk/tickets/{number}/{action}", guarded(site, act), methods=["POST"]),
    ]


# -- one ticket -------------------------------------------------------------------------


def _ticket_context(
    desk: Desk, sharing: Sharing | None, actor: Actor, number: str, seen: int | None = None
) -> dict[str, Any]:
    """The ticket as the desk shows it to this agent; with ``sharing``, the whole page's
    choices too (the live regions need only the ticket and people's names)."""
    detail = desk.visible_ticket(actor, number)
    choices = desk.work_choices(actor)
    staff = list(choices.staff)
    names = names_of(staff)
    fields = [dict(definition) for definition in choices.fields]
    last = max((event.id for event in detail.events), default=0)
    history = _history(detail, names, seen)
    context: dict[str, Any] = {
        "detail": detail,
        "ticket": detail.ticket,
        "base": f"/desk/tickets/{quote(detail.ticket.number)}",
        "comments": detail.comments,
        "history": history,
        "fresh": [change.text for change in history if change.new],
        "seen": last if seen is None else seen,
        "names": names,
        "channels": CHANNELS,
        "field_values": _field_values(detail, fields),
        "now": desk.clock.now(),
    }
    if sharing is None:
        return context
    admin = actor.role is Role.ADMIN
    context.update(
        staff=staff,
        categories=list(choices.categories),
        teams=list(choices.teams),
        fields=fields,
        statuses=[s.value for s in Status],
        priorities=[p.value for p in Priority],
        shares=sharing.shares(actor, detail.ticket.number),
        # Only admins may list the agreements; an agent names one by its number.
        agreements=[a for a in sharing.agreements(actor) if a.side == "sender" and a.status == "accepted"]
        if admin
        else None,
    )
    return context


def _render_ticket(
    site: Site,
    request: Request,
    context: Mapping[str, Any],
    *,
    errors: Mapping[str, str] | None = None,
    drafts: Mapping[str, str] | None = None,
    keys: Mapping[str, str] | None = None,
    changes: Sequence[str] = (),
    status: int = 200,
) -> Response:
    extra = {
        "errors": dict(errors or {}),
        "drafts": dict(drafts or {}),
        "keys": {action: (keys or {}).get(action) or forms.new_key() for action in WRITES},
        "changes": list(changes),
        "oob": False,
    }
    return site.page(request, "desk/ticket.html", {**context, **extra}, status=status)


def _change(
    desk: Desk, sharing: Sharing, actor: Actor, number: str, action: str, values: Mapping[str, list[str]]
) -> str:
    """One of the ticket's small forms, as the API's call for it; the ticket to show next."""
    if action == "assign":
        who = forms.one(values, "assignee")
        desk.assign(actor, number, actor.label if who == "me" else who or None)
    elif action == "team":
        desk.set_team(actor, number, forms.one(values, "team", 200) or None)
    elif action == "status":
        desk.transition(actor, number, parse_status(forms.one(values, "status", 30)))
    elif action == "priority":
        desk.set_priority(actor, number, parse_priority(forms.one(values, "priority", 20)))
    elif action == "category":
        desk.set_category(actor, number, forms.one(values, "category", 500) or None)
    elif action == "tags":
        add = [tag for tag in forms.one(values, "add", 2000).split(",") if tag.strip()]
        remove = [tag for tag in values.get("remove", []) if tag.strip()]
        if not add and not remove:
            raise UserError("Write a tag to add, or tick one to remove.", field="tags")
        desk.set_tags(actor, number, add=add, remove=remove)
    elif action == "fields":
        changed = _changed_fields(desk, actor, number, values)
        if changed:
            desk.update(actor, number, TicketChanges(fields=changed))
    elif action == "merge":
        return desk.merge(actor, number, forms.one(values, "into", 50)).number
    elif action == "escalate":
        desk.escalate(actor, number, forms.one(values, "reason", 2000))
    elif action == "share":
        sharing.share(actor, number, _agreement(forms.one(values, "agreement", 20)))
    elif action == "unshare":
        sharing.unshare(actor, number, _agreement(forms.one(values, "agreement", 20)))
    return number


def _changed_fields(desk: Desk, actor: Actor, number: str, values: Mapping[str, list[str]]) -> dict[str, Any]:
    """The custom fields whose value the form changes (an empty one clears the field)."""
    current = desk.visible_ticket(actor, number).ticket.custom_fields
    changed: dict[str, Any] = {}
    for definition in desk.list_fields():
        key = str(definition["key"])
        given = values.get("field." + key)
        if given is None:
            continue
        value: Any
        if definition["type"] == "multiple_choice":
            value = [item for item in given if item] or None
        else:
            value = given[0].strip() or None
        before = current.get(key)
        if value != before and not (value is not None and before is not None and str(value) == str(before)):
            changed[key] = value
    return changed


def changed_between(
    events: Sequence[EventView], seen: int, comment_id: int, names: Mapping[str, str]
) -> list[str]:
    """What happened on the ticket after the page showed event ``seen`` and before the comment
    ``comment_id`` was written: what its author did not see while writing."""
    written = next(
        (e.id for e in events if e.kind == "commented" and (e.after or {}).get("comment_id") == comment_id),
        None,
    )
    return [
        describe(event, names)
        for event in events
        if event.id > seen and (written is None or event.id < written) and event.kind not in NOT_CHANGES
    ]


def _history(detail: TicketDetail, names: Mapping[str, str], seen: int | None) -> list[Change]:
    return [
        Change(event, describe(event, names), seen is not None and event.id > seen)
        for event in detail.events
        if event.kind not in NOT_CHANGES
    ]


def _field_values(detail: TicketDetail, fields: Sequence[Mapping[str, object]]) -> list[tuple[str, str]]:
    labels = {str(d["key"]): str(d.get("label") or d["key"]) for d in fields}
    return [
        (labels.get(key, key), ", ".join(map(str, value)) if isinstance(value, list) else str(value))
        for key, value in sorted(detail.ticket.custom_fields.items())
        if value not in (None, "", [])
    ]


# -- reading the forms ------------------------------------------------------------------


def _event_id(text: str | None) -> int | None:
    return int(text) if text and text.isascii() and text.isdigit() and len(text) <= 18 else None


def _agreement(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**31:
        raise UserError("Choose a sharing agreement.", field="agreement")
    return int(text)
