"""Headers every response of the HTTP port carries, whoever answered it.

Pages set their own Content-Security-Policy (the web desk's); everything else (the API's
JSON, a 404 for a path no route knows, a 413 from the body limit, a 500) gets one that
allows nothing, so no answer of ours can be framed or sniffed into something runnable.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOTHING_ALLOWED = "default-src 'none'; frame-ancestors 'none'"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("content-security-policy", NOTHING_ALLOWED)
            await send(message)

        await self.app(scope, receive, with_headers)
