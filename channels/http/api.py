"""The ASGI application served by ``supportbot serve``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.routing import BaseRoute

from bot.errors import StoreUnavailable
from bot.store.db import Store


def create_app(store: Store, routes: Sequence[BaseRoute] = ()) -> FastAPI:
    """``routes`` are other channels' endpoints served here too (Slack's ``/slack/events``);
    the composition root hands them in, so this module never imports another channel."""
    app = FastAPI(title="Supportbot", docs_url=None, redoc_url=None, openapi_url=None)
    app.router.routes.extend(routes)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        """For load balancers: 200 while the store answers, 503 (so traffic moves away) when not."""
        try:
            await asyncio.to_thread(store.ping)
        except StoreUnavailable:
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    return app
