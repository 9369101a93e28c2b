"""Who is calling: ``Authorization: Bearer <token>`` turned into the person it stands for.

Two places ask: :class:`BearerGate`, before a request's body is read, and the
``CurrentActor`` dependency of every endpoint, which reuses the gate's answer.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.desk.facade import Desk
from bot.errors import StoreUnavailable, Unauthenticated
from bot.model import Actor
from channels.http import asgi

# auto_error=False: a missing header is our Unauthenticated (401 with our JSON body),
# not FastAPI's 403. The scheme still shows in the OpenAPI document.
bearer = HTTPBearer(auto_error=False, description="An API token: `supportbot tokens create --person EMAIL`")
MISSING = "send an API token as Authorization: Bearer <token>"


def desk_of(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


async def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    known: Actor | None = getattr(request.state, "actor", None)
    if known is not None:  # the gate checked this request's token already
        return known
    if credentials is None or not credentials.credentials:
        raise Unauthenticated(MISSING)
    actor = await asyncio.to_thread(desk_of(request).authenticate, credentials.credentials)
    # For the access log, which runs after the response (see access.py).
    request.state.actor = actor
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]
CurrentDesk = Annotated[Desk, Depends(desk_of)]


class BearerGate:
    """A request that carries a body needs a valid token before a byte of that body is read.

    Every API endpoint that takes a body wants a person, so a request without a valid
    token is answered 401 at once: no JSON is parsed and no upload spooled to disk for
    a stranger, and the connection closes (see limits.py) instead of draining the body.
    Requests without a body are left to the endpoint's own check, which answers the same.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not asgi.body_follows(scope):
            await self.app(scope, receive, send)
            return
        scheme, _, token = (asgi.header(scope, b"authorization") or b"").decode("latin-1").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            await _unauthenticated(send, MISSING)
            return
        try:
            actor = await asyncio.to_thread(asgi.desk_of(scope).authenticate, token)
        except Unauthenticated as error:
            await _unauthenticated(send, error.message, error.field)
            return
        except StoreUnavailable:
            await asgi.answer_json(
                send, 503, "the database is unavailable; retry shortly", None, [(b"retry-after", b"5")]
            )
            return
        scope.setdefault("state", {})["actor"] = actor
        await self.app(scope, receive, send)


async def _unauthenticated(send: Send, message: str, field: str | None = None) -> None:
    await asgi.answer_json(send, 401, message, field, [(b"www-authenticate", b"Bearer")])
