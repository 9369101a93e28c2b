"""The agents' workspace: queues, one ticket with everything an agent does on it, bulk changes.

Staff only: a requester asking for any page here is told there is no such page. Every action
is a small form posting to ``/desk/tickets/N/<action>`` that calls the desk method the API (or
Slack) calls for it, so the rules stay the desk's; a refusal is shown beside the form that
asked, with the page around it as it stands. Forms work without JavaScript; htmx swaps the
queue's list when the filters change, and the live stream (live.py) makes the list, and a
ticket's conversation, facts and history, fetch themselves again when something changed.

A reply is never lost to someone else's change: its form carries the last event its page
showed (``seen``). The reply is posted whatever happened since, and the answer names what did
("Bo replied", "Bo changed the status to resolved"), since the reply may want a second look.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.desk.facade import Desk
from bot.errors import NotFound, UserError
from bot.messages import IncomingFile
from bot.model import Actor, Priority, Role, Status, parse_priority, parse_status
from bot.read import search, sorting
from bot.read.live import NOT_CHANGES
from bot.read.queries import TicketFilter
from bot.read.retries import KEY_FIELD
from bot.sharing.service import Sharing
from bot.tickets.classify import TicketChanges
from bot.views import EventView, PersonView, TicketDetail
from channels.web import bulk, downloads, forms, queue_counts
from channels.web.history import CHANNELS, describe
from channels.web.queue_counts import QueueCounts
from channels.web.site import Site, guarded, local_path

# A reply or a note may carry files: the server allows these bodies max_total_bytes more.
UPLOAD_PATHS = [r"^/desk/tickets/[^/]+/(reply|note)$"]

PAGE = 50
TEXT_MAX = 100_000  # a comment, as the API takes it
# The API's created_after ... updated_before, picked as days.
DATE_FILTERS = ("created_after", "created_before", "updated_after", "updated_before")
FILTERS = ("status", "priority", "category", "tag", "assignee", "requester", *DATE_FILTERS)
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
SORTS = {
    "-number": "Newest first",
    "number": "Oldest first",
    "-updated_at": "Recently updated",
    "updated_at": "Least recently updated",
    "due": "Due soonest",
    "-due": "Due last",
    "-priority": "Most urgent",
    "priority": "Least urgent",
    "-created_at": "Recently opened",
    "created_at": "Opened longest ago",
}


@dataclass(frozen=True, slots=True)
class Queue:
    key: str
    label: str
    filter: TicketFilter


def queues_for(actor: Actor, team: str | None) -> list[Queue]:
    """The queue tabs; "My team's" for someone in a team."""
    assert actor.person_id is not None, "a signed-in person has an id"
    tabs = [
        Queue("mine", "Mine", TicketFilter(assignee_id=actor.person_id, open_only=True)),
        Queue("unassigned", "Unassigned", TicketFilter(assignee="none", open_only=True)),
    ]
    if team:
        tabs.append(Queue("team", "My team's", TicketFilter(team=team, open_only=True)))
    return tabs + [
        Queue("at_risk", "At risk", TicketFilter(sla_status="at_risk", open_only=True)),
        Queue("breached", "Breached", TicketFilter(sla_status="breached", open_only=True)),
        Queue("open", "All open", TicketFilter(open_only=True)),
        Queue("all", "All", TicketFilter()),
    ]


@dataclass(frozen=True, slots=True)
class Listing:
    """The queue page's query string: what the list shows, and the links that keep it."""

    queue: str
    filters: dict[str, str]
    q: str
    sort: str
    cursor: str

    @classmethod
    def of(cls, request: Request) -> Listing:
        params = request.query_params
        given = {name: params.get(name, "")[: forms.SHORT].strip() for name in FILTERS}
        return cls(
            queue=params.get("queue", "mine")[:20],
            filters={name: value for name, value in given.items() if value},
            q=params.get("q", "")[:500].strip(),
            sort=params.get("sort", "")[:20].strip(),
            cursor=params.get("cursor", "")[:100].strip(),
        )

    def url(self, **changes: str) -> str:
        values = {"queue": self.queue, **self.filters, "q": self.q, "sort": self.sort, "cursor": self.cursor}
        values.update(changes)
        return "/desk?" + urlencode({name: value for name, value in values.items() if value})

    def tab(self, queue: str) -> str:
        """Another queue with the same filters, from its first page."""
        return self.url(queue=queue, cursor="")


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
    counter = QueueCounts(desk, site.settings.web.queue_counts_max_age_seconds)

    async def queue_page(request: Request) -> Response:
        actor = forms.person((await site.signed_in(request, staff=True)).actor)
        listing = Listing.of(request)
        context = await site.call(_queue_context, desk, counter, actor, listing)
        region = request.headers.get("hx-target") == "queue"
        # htmx swaps only successful answers: the list region says what was wrong itself.
        status = 422 if context["error"] and not region else 200
        return site.page(request, "desk/_queue.html" if region else "desk/queue.html", context, status)

    async def bulk_page(request: Request) -> Response:
        actor = forms.person((await site.signed_in(request, staff=True)).actor)
        form = await site.form(request)
        try:
            values = forms.values_of(form)
        finally:
            await form.close()
        numbers = [n.strip() for n in values.get("numbers", []) if n.strip()]
        results, error = await site.call(bulk.apply, desk, actor, numbers, values)
        back = local_path(forms.one(values, "back", 2000), "/desk")
        context = {"results": results, "error": error, "back": back}
        return site.page(request, "desk/bulk.html", context, status=422 if error else 200)

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
        Route("/desk", guarded(site, queue_page), methods=["GET"]),
        Route("/desk/bulk", guarded(site, bulk_page), methods=["POST"]),
        Route("/desk/tickets/{number}", guarded(site, ticket_page), methods=["GET"]),
        Route("/desk/tickets/{number}/regions", guarded(site, regions), methods=["GET"]),
        Route("/desk/tickets/{number}/files/{file_id:int}", guarded(site, download), methods=["GET"]),
        Route("/desk/tickets/{number}/{action}", guarded(site, act), methods=["POST"]),
    ]


# -- the queues -------------------------------------------------------------------------


def _queue_context(desk: Desk, counter: QueueCounts, actor: Actor, listing: Listing) -> dict[str, Any]:
    """The tabs with their counts, one page of the chosen queue, and the filters' choices."""
    choices = desk.work_choices(actor)
    staff = list(choices.staff)
    me = next((person for person in staff if person.id == actor.person_id), None)
    tabs = queues_for(actor, me.team if me else None)
    queue = next((tab for tab in tabs if tab.key == listing.queue), tabs[0])
    counted = counter.counts(actor, [tab.filter for tab in tabs])
    counts = {tab.key: queue_counts.shown(count) for tab, count in zip(tabs, counted, strict=True)}
    tickets: list[Any] = []
    next_cursor, error = None, None
    try:
        query = _query(queue.filter, listing, actor)
        order = sorting.parse(query.sort)
        after = _position(listing.cursor) if listing.cursor else None
        views = desk.list_tickets(replace(query, after=after, limit=PAGE + 1))
        tickets = views[:PAGE]
        if len(views) > PAGE:
            next_cursor = _cursor(sorting.position_of(order, tickets[-1]))
    except UserError as refused:
        error = refused.message
    return {
        "listing": replace(listing, queue=queue.key),
        "queue": queue,
        "queues": tabs,
        "counts": counts,
        "tickets": tickets,
        "next_cursor": next_cursor,
        "error": error,
        "staff": staff,
        "names": _names(staff),
        "categories": list(choices.categories),
        "teams": list(choices.teams),
        "statuses": [s.value for s in Status],
        "priorities": [p.value for p in Priority],
        "sorts": SORTS,
        "now": desk.clock.now(),
    }


def _query(base: TicketFilter, listing: Listing, actor: Actor) -> TicketFilter:
    given = listing.filters
    if listing.q and not search.words(listing.q):
        raise UserError("the search has no words to look for", field="q")
    # The filters narrow the queue: what one leaves empty stays as the queue has it.
    narrowed: dict[str, Any] = {name: value for name, value in given.items() if value}
    for name in DATE_FILTERS:
        if name in narrowed:
            narrowed[name] = _day(name, narrowed[name])
    if narrowed.get("assignee") == "me":
        narrowed["assignee"] = actor.label
    return replace(base, **narrowed, text=listing.q or None, sort=listing.sort or None)


def _day(name: str, text: str) -> datetime:
    """A date picked in the filters, as the API's bound: from the start of that day (UTC),
    or, for a "before" bound, up to its end (the day is included)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{text!r} is not a date (YYYY-MM-DD)", field=name) from None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start + timedelta(days=1) if name.endswith("_before") else start


def _cursor(at: sorting.Position) -> str:
    """Where a page ended, for the next page's link: keyset paging, as the API's cursors."""
    return f"{at.sort},{at.value},{at.ticket_id}"


def _position(cursor: str) -> sorting.Position:
    """A page link's cursor read back; the desk then checks it belongs to the list's order."""
    try:
        sort, value, ticket_id = cursor.split(",")
        return sorting.position(sort, int(value), int(ticket_id))
    except (ValueError, UserError):
        raise UserError("that page link is not one this desk made; start again from the first page") from None


# -- one ticket -------------------------------------------------------------------------


def _ticket_context(
    desk: Desk, sharing: Sharing | None, actor: Actor, number: str, seen: int | None = None
) -> dict[str, Any]:
    """The ticket as the desk shows it to this agent; with ``sharing``, the whole page's
    choices too (the live regions need only the ticket and people's names)."""
    detail = desk.visible_ticket(actor, number)
    choices = desk.work_choices(actor)
    staff = list(choices.staff)
    names = _names(staff)
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


# -- shared by the pages ----------------------------------------------------------------


def _names(staff: Sequence[PersonView]) -> dict[str, str]:
    """How the desk's labels (emails) of staff are shown: by name."""
    return {person.label: person.name or person.label for person in staff}


def _event_id(text: str | None) -> int | None:
    return int(text) if text and text.isascii() and text.isdigit() and len(text) <= 18 else None


def _agreement(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**31:
        raise UserError("Choose a sharing agreement.", field="agreement")
    return int(text)
