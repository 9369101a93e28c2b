"""Server-sent events that tell an open page what it shows has changed: ``/live/ticket/N``
(the ticket's page, staff's or its requester's) and ``/live/queue`` (staff's queues).

Only a stamp travels (``event: changed``, ``data: <stamp>``), never content: the page then
fetches its own live regions the usual way, with the viewer's rights, so a requester's
stream cannot leak an internal note. The stream polls a cheap stamp from the store
(:mod:`bot.read.live`) every ``web.live_poll_ms``, so a change made by any process sharing
the database reaches every page. Streams of one process watching the same thing share each
read of its stamp.

Who may watch is checked when the stream opens. A stream ends after ``LIFETIME_SECONDS``
and the browser's EventSource opens it again by itself (after ``retry``), so the session is
checked again at least that often; it sends the last stamp it saw (``Last-Event-ID``), and a
change made while it was away is announced at once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from bot.desk.facade import Desk
from bot.errors import NotFound, StoreUnavailable, UserError
from bot.model import format_number, parse_number
from channels.web.site import Site, Viewer, guarded

logger = logging.getLogger(__name__)


RETRY_MS = 3000  # how long the browser waits before it opens a closed stream again
HEARTBEAT_SECONDS = 15.0  # a comment line, so proxies keep a quiet stream open
LIFETIME_SECONDS = 300.0
# Live pages one person may hold open in one process (tabs, two browsers, a phone).
MAX_STREAMS_PER_PERSON = 12
STAMP = re.compile(r"[0-9a-f]{1,64}")
Key = tuple[int | None, bool]  # (ticket id or None for the queue, public_only)


@dataclass(slots=True)
class Stamps:
    """The stamps this process read last, shared by its streams: ten agents watching the
    queue cost one query per interval, not ten."""

    desk: Desk
    interval: float
    read_at: dict[Key, tuple[float, str | None]] = field(default_factory=dict)
    locks: dict[Key, asyncio.Lock] = field(default_factory=dict)

    async def stamp(self, key: Key, *, now: bool = False) -> str | None:
        """``now``: read it again whatever was read a moment ago (a stream opening compares
        it with the one its page saw last)."""
        fresh = None if now else self._fresh(key)
        if fresh is not None:
            return fresh[1]
        lock = self.locks.setdefault(key, asyncio.Lock())
        async with lock:
            fresh = None if now else self._fresh(key)  # read by another stream while this one waited
            if fresh is not None:
                return fresh[1]
            ticket_id, public_only = key
            value = await asyncio.to_thread(self.desk.change_stamp, ticket_id, public_only=public_only)
            self.read_at[key] = (time.monotonic(), value)
        self._forget_old()
        return value

    def _fresh(self, key: Key) -> tuple[float, str | None] | None:
        found = self.read_at.get(key)
        # A little under the interval: a stream waking a moment early still gets a new read.
        return found if found is not None and time.monotonic() - found[0] < self.interval * 0.8 else None

    def _forget_old(self) -> None:
        if len(self.read_at) < 1024:
            return
        horizon = time.monotonic() - 10 * self.interval
        for key in [key for key, (at, _) in self.read_at.items() if at < horizon]:
            del self.read_at[key]
            lock = self.locks.get(key)
            if lock is not None and not lock.locked():
                del self.locks[key]


def routes(site: Site) -> list[BaseRoute]:
    desk = site.desk
    stamps = Stamps(desk, site.settings.web.live_poll_ms / 1000)
    streams = OpenStreams()

    async def ticket(request: Request) -> Response:
        viewer = await site.signed_in(request)
        assert viewer.actor is not None
        raw: str = request.path_params["number"]
        prefix = site.settings.ticket_prefix
        # A requester may watch their own tickets only: the desk answers "no ticket" otherwise.
        detail = await site.call(desk.visible_ticket, viewer.actor, format_number(prefix, _id(prefix, raw)))
        key: Key = (detail.ticket.id, not viewer.is_staff)
        return _stream(site, request, lambda now: stamps.stamp(key, now=now), streams, _person(viewer))

    async def queue(request: Request) -> Response:
        viewer = await site.signed_in(request, staff=True)
        return _stream(
            site, request, lambda now: stamps.stamp((None, False), now=now), streams, _person(viewer)
        )

    return [
        Route("/live/ticket/{number}", guarded(site, ticket), methods=["GET"]),
        Route("/live/queue", guarded(site, queue), methods=["GET"]),
    ]


def _person(viewer: Viewer) -> int:
    assert viewer.actor is not None and viewer.actor.person_id is not None, "a signed-in person"
    return viewer.actor.person_id


def _id(prefix: str, raw: str) -> int:
    try:
        return parse_number(prefix, raw)
    except UserError:
        raise NotFound(f"no ticket {raw[:40]}", field="number") from None


Read = Callable[[bool], Awaitable[str | None]]  # True: read it now, not from a moment ago


class OpenStreams:
    """Streams each person holds open in this process: each holds a connection for minutes,
    and anyone can become a requester by asking for a sign-in link, so a few people must not
    take every connection the server has. Used from the event loop only."""

    def __init__(self, cap: int = MAX_STREAMS_PER_PERSON) -> None:
        self.cap = cap
        self.held: Counter[int] = Counter()

    def take(self, person_id: int) -> bool:
        if self.held[person_id] >= self.cap:
            return False
        self.held[person_id] += 1
        return True

    def release(self, person_id: int) -> None:
        self.held[person_id] -= 1
        if self.held[person_id] <= 0:
            del self.held[person_id]


def _stream(site: Site, request: Request, read: Read, streams: OpenStreams, person_id: int) -> Response:
    if not streams.take(person_id):
        logger.info("web: live stream refused for person %s: %d open already", person_id, streams.cap)
        busy = Response("too many live pages open\n", status_code=429, media_type="text/plain")
        busy.headers["retry-after"] = "30"
        return site.finish(request, busy)
    interval = site.settings.web.live_poll_ms / 1000
    last_seen = request.headers.get("last-event-id", "")
    since = last_seen if STAMP.fullmatch(last_seen) else None
    response = _HeldStream(
        _events(request, read, interval, since),
        lambda: streams.release(person_id),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
    return site.finish(request, response)


class _HeldStream(StreamingResponse):
    """Gives its person's place back however the response ends: done, cancelled, or the
    client gone before the first event (a generator never started runs no ``finally``)."""

    def __init__(self, content: AsyncIterator[str], release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


async def _events(request: Request, read: Read, interval: float, since: str | None) -> AsyncIterator[str]:
    """``id:`` carries the stamp, so a reopened stream says where it was."""
    started = beat = time.monotonic()
    try:
        last = await read(True)
        if since is not None and last != since:
            yield f"retry: {RETRY_MS}\nid: {last}\nevent: changed\ndata: {last}\n\n"
        else:
            yield f"retry: {RETRY_MS}\nid: {last or ''}\n\n"
        while time.monotonic() - started < LIFETIME_SECONDS:
            await asyncio.sleep(interval)
            if await request.is_disconnected():
                return
            stamp = await read(False)
            now = time.monotonic()
            if stamp != last:
                last, beat = stamp, now
                yield f"id: {stamp or ''}\nevent: changed\ndata: {stamp or ''}\n\n"
            elif now - beat >= HEARTBEAT_SECONDS:
                beat = now
                yield ": still here\n\n"
    except StoreUnavailable:
        # The browser opens the stream again after ``retry``; the page keeps what it shows.
        logger.info("web: live stream %s ended: the store is unavailable", request.url.path)
