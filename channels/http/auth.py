"""Who is calling: ``Authorization: Bearer <token>`` turned into the person it stands for."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.desk import Desk
from bot.errors import Unauthenticated
from bot.model import Actor

# auto_error=False: a missing header is our Unauthenticated (401 with our JSON body),
# not FastAPI's 403. The scheme still shows in the OpenAPI document.
bearer = HTTPBearer(auto_error=False, description="An API token: `supportbot tokens create --person EMAIL`")


def desk_of(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


async def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("send an API token as Authorization: Bearer <token>")
    actor = await asyncio.to_thread(desk_of(request).authenticate, credentials.credentials)
    # For the access log, which runs after the response (see access.py).
    request.state.actor = actor
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]
CurrentDesk = Annotated[Desk, Depends(desk_of)]
