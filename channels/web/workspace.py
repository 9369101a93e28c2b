"""The agents' queues: tabs with counts, filters, sort, search, paging, and bulk changes.

Staff only: a requester asking for any page here is told there is no such page. The filter
form works without JavaScript; htmx swaps the list when the filters change, and the live
stream (live.py) makes the list fetch itself again when something changed. One ticket's
page is agent_ticket.py's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.desk.facade import Desk
from bot.errors import UserError
from bot.model import Actor, Priority, Status
from bot.read import cursors, search, sorting
from bot.read.queries import TicketFilter
from channels.web import bulk, forms, queue_counts
from channels.web.held_count import HeldCount
from channels.web.history import names_of
from channels.web.queue_counts import QueueCounts
from channels.web.site import Site, guarded, local_path

PAGE = 50
# The API's created_after ... updated_before, picked as days.
DATE_FILTERS = ("created_after", "created_before", "updated_after", "updated_before")
FILTERS = ("status", "priority", "category", "tag", "assignee", "requester", *DATE_FILTERS)
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


def routes(site: Site, held: HeldCount | None = None) -> list[BaseRoute]:
    """``held``: the count of suspended mail the navigation shows, shared with its pages."""
    desk = site.desk
    counter = QueueCounts(desk, site.settings.web.queue_counts_max_age_seconds)
    held_count = held or HeldCount(desk)

    async def queue_page(request: Request) -> Response:
        actor = forms.person((await site.signed_in(request, staff=True)).actor)
        listing = Listing.of(request)
        context = await site.call(_queue_context, desk, counter, actor, listing)
        region = request.headers.get("hx-target") == "queue"
        if not region:  # the navigation is outside the list region
            context["held_count"] = await site.call(held_count.total, actor)
        # htmx swaps only successful answers: the list region says what was wrong itself.
        status = 422 if context["error"] and not region else 200
        return site.page(request, "desk/_queue.html" if region else "desk/queue.html", context, status)

    async def bulk_page(request: Request) -> Response:
        actor = forms.person((await site.signed_in(request, staff=True)).actor)
        values = await site.form_values(request)
        numbers = [n.strip() for n in values.get("numbers", []) if n.strip()]
        results, error = await site.call(bulk.apply, desk, actor, numbers, values)
        back = local_path(forms.one(values, "back", 2000), "/desk")
        context = {"results": results, "error": error, "back": back}
        return site.page(request, "desk/bulk.html", context, status=422 if error else 200)

    return [
        Route("/desk", guarded(site, queue_page), methods=["GET"]),
        Route("/desk/bulk", guarded(site, bulk_page), methods=["POST"]),
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
        after = cursors.decode(listing.cursor) if listing.cursor else None
        views = desk.list_tickets(replace(query, after=after, limit=PAGE + 1))
        tickets = views[:PAGE]
        if len(views) > PAGE:
            next_cursor = cursors.encode(sorting.position_of(order, tickets[-1]))
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
        "names": names_of(staff),
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
