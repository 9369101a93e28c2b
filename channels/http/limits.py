"""The body size limit of every HTTP route, counted as the bytes arrive.

A ``Content-Length`` over the limit is refused before anything is read. A body
without one (chunked) is counted message by message as the application reads
it, and answered 413 as soon as it passes the limit, so at most the limit plus
one message (uvicorn hands over about 64 KiB at a time) is ever held; the
application then sees the client as gone. A response that leaves the request
body unread (this 413, a 401 before the body, any early error) carries
``Connection: close``: the server stops reading instead of draining whatever
the client still sends.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.http.asgi import CLOSE, answer_json, body_follows, header, local_path

logger = logging.getLogger(__name__)

# A limit, or how to read it from the request (the desk it is for, say).
Limit = int | Callable[[Scope], int]


class BodyLimit:
    """413 past ``limit`` bytes of request body. ``paths`` give paths (below the mount
    point) limits of their own, the first pattern that matches wins: an upload's.

    On the paths matching one of ``counted_only`` a too large ``Content-Length`` is left
    to the application and the bytes only counted: there the limit is a ceiling above
    the one the route answers itself, in its own protocol (sharing's 422), which it sees
    first."""

    def __init__(
        self,
        app: ASGIApp,
        limit: Limit,
        paths: Sequence[tuple[re.Pattern[str], Limit]] = (),
        *,
        counted_only: Sequence[re.Pattern[str]] = (),
    ) -> None:
        self.app = app
        self.limit = limit
        self.paths = tuple(paths)
        self.counted_only = tuple(counted_only)

    def limit_for(self, scope: Scope) -> int:
        path = local_path(scope)
        chosen = next((limit for pattern, limit in self.paths if pattern.match(path)), self.limit)
        return chosen(scope) if callable(chosen) else chosen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        length = header(scope, b"content-length")
        if length is not None and not length.strip().isdigit():
            await answer_json(send, 400, "Content-Length is not a number", "body", [CLOSE])
            return
        declared = not any(pattern.match(local_path(scope)) for pattern in self.counted_only)
        if declared and length is not None and int(length) > limit:
            await answer_json(send, 413, f"the body is over {limit} bytes", "body", [CLOSE])
            return
        unread = body_follows(scope)
        received = 0
        refused = started = False

        async def counted() -> Message:
            nonlocal unread, received, refused, started
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.disconnect":
                unread = False
            elif message["type"] == "http.request":
                received += len(message.get("body", b""))
                unread = unread and bool(message.get("more_body", False))
                if received > limit:
                    refused = True
                    logger.debug("%s %s: body over %d bytes, refused", scope["method"], scope["path"], limit)
                    if not started:  # else the response stays unfinished: the server closes
                        started = True
                        await answer_json(send, 413, f"the body is over {limit} bytes", "body", [CLOSE])
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the client has its 413 (or a cut-off response) already
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                if unread and not any(key.lower() == b"connection" for key, _ in headers):
                    message = {**message, "headers": [*headers, CLOSE]}
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except ClientDisconnect:
            if not refused:
                raise
