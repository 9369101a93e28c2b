"""Pure ASGI middleware of the API: a body size limit, and the audit record of ticket requests.

Every request under ``/tickets`` is put on record with the person (None when
the token was missing or wrong) and the status answered, denied ones included.
It is recorded after the app has answered, so the status is the real one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.desk import Desk
from bot.errors import StoreUnavailable
from bot.model import Actor

logger = logging.getLogger(__name__)

TICKET_PATH = re.compile(r"^/tickets(?:/(?P<number>[^/]+))?(?:/.*)?$")


class BodyLimit:
    """413 for a body declared larger than ``limit`` bytes, before anything reads it.

    ``wider`` gives paths (uploads) a limit of their own: (pattern of the path below
    the mount point, the limit for the desk serving the request)."""

    def __init__(
        self, app: ASGIApp, limit: int, wider: Sequence[tuple[re.Pattern[str], Callable[[Desk], int]]] = ()
    ) -> None:
        self.app = app
        self.limit = limit
        self.wider = tuple(wider)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length", b"0")
            if not length.isdigit():
                await _answer_json(send, 400, "Content-Length is not a number", "body")
                return
            limit = self.limit_for(_local_path(scope), desk_of(scope))
            if int(length) > limit:
                await _answer_json(send, 413, f"the body is over {limit} bytes", "body")
                return
        await self.app(scope, receive, send)

    def limit_for(self, path: str, desk: Desk) -> int:
        for pattern, limit in self.wider:
            if pattern.match(path):
                return limit(desk)
        return self.limit


def desk_of(scope: Scope) -> Desk:
    """The desk the API application serves (its state), read per request: the application
    is built once and may be bound to another desk (each test's own)."""
    desk: Desk = scope["app"].state.desk
    return desk


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        match = TICKET_PATH.match(_local_path(scope))
        if match is None:
            await self.app(scope, receive, send)
            return
        desk = desk_of(scope)
        state = scope.setdefault("state", {})
        status = 500  # what the client sees if the app fails before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            actor: Actor | None = state.get("actor")
            try:
                await asyncio.to_thread(
                    desk.record_api_access, actor, match["number"], scope["method"], path, status
                )
            except StoreUnavailable:
                logger.warning(
                    "API request %s %s (%d) not audited: store unavailable", scope["method"], path, status
                )


def _local_path(scope: Scope) -> str:
    """The path below the mount point (``/tickets/...`` under ``/api/v1``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


async def _answer_json(send: Send, status: int, message: str, field: str | None) -> None:
    body = json.dumps({"error": {"message": message, "field": field}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
