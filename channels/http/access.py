"""The audit record of API requests, written after the application answered (the real status).

- A request with a valid token about a ticket goes on that ticket's record, with the
  person and the outcome, refused ones included.
- A request with a valid token refused (401/403) anywhere else under the API goes
  on record too, without a ticket.
- A request refused for a missing or wrong token is never put on a ticket: anyone
  could write there. It is counted, and recorded (without a ticket, with the source
  address) at a bounded rate per address, so a flood cannot fill the log (denials.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.errors import StoreUnavailable
from bot.model import Actor
from channels.http.asgi import client_address, desk_of, local_path
from channels.http.denials import Denials

logger = logging.getLogger(__name__)

TICKET_PATH = re.compile(r"^/tickets(?:/(?P<number>[^/]+))?(?:/.*)?$")
DENIED = (401, 403)


def denials_of(scope: Scope) -> Denials:
    denials: Denials = scope["app"].state.denials
    return denials


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
            await self._record(scope, state.get("actor"), status)

    async def _record(self, scope: Scope, actor: Actor | None, status: int) -> None:
        path: str = scope["path"]
        ticket = TICKET_PATH.match(local_path(scope))
        number: str | None = None
        details: dict[str, Any] | None = None
        if actor is not None:
            if ticket is None and status not in DENIED:
                return
            number = ticket["number"] if ticket else None
        elif status in DENIED:
            source = client_address(scope)
            admission = denials_of(scope).unauthenticated_denial(source, status)
            if not admission.recorded:
                return
            details = {"source": source, "left_out": admission.left_out}
        else:
            return
        desk = desk_of(scope)
        try:
            await asyncio.to_thread(
                desk.record_api_access, actor, number, scope["method"], path, status, details=details
            )
        except StoreUnavailable:
            logger.warning(
                "API request %s %s (%d) not audited: store unavailable", scope["method"], path, status
            )
