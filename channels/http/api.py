"""The ASGI application served by ``supportbot serve``."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from bot.errors import StoreUnavailable
from bot.store.db import Store


def create_app(store: Store) -> FastAPI:
    app = FastAPI(title="Supportbot", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        """For load balancers: 200 while the store answers, 503 (so traffic moves away) when not."""
        try:
            await asyncio.to_thread(store.ping)
        except StoreUnavailable:
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    return app
