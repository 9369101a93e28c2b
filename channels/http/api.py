"""The ASGI application served by ``supportbot serve``: health, metrics and the REST API."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.routing import BaseRoute

from bot.desk import Desk
from bot.errors import StoreUnavailable
from bot.sharing.service import Sharing
from bot.store.db import Store
from channels.http import attachments, config_routes, errors, rules_routes, search, sharing, tickets
from channels.http.access import AccessLog, BodyLimit
from channels.http.metrics import metrics_endpoint

# JSON bodies; an upload may be max_bytes of attachment larger (see attachments.py).
MAX_BODY = 1024 * 1024


def create_app(
    store: Store, routes: Sequence[BaseRoute] = (), desk: Desk | None = None, api: FastAPI | None = None
) -> FastAPI:
    """``routes`` are other channels' endpoints served here too (Slack's ``/slack/events``);
    the composition root hands them in, so this module never imports another channel.
    Without a ``desk`` only the health check is served. ``api`` is an API application
    built before (:func:`api_application`), bound here to ``desk``: building one costs
    a few tenths of a second, which a test suite pays once instead of per test."""
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

    if desk is not None:
        app.add_api_route("/metrics", metrics_endpoint(desk), methods=["GET"], include_in_schema=False)
        app.mount("/api/v1", bind(api or api_application(), desk))
    return app


def create_api(desk: Desk) -> FastAPI:
    """The REST API serving ``desk``, with its own OpenAPI document at ``/api/v1/openapi.json``."""
    return bind(api_application(), desk)


def bind(api: FastAPI, desk: Desk) -> FastAPI:
    """Serve ``desk``: endpoints and middleware read it from the application's state."""
    api.state.desk = desk
    api.state.sharing = Sharing(desk)
    return api


def api_application() -> FastAPI:
    """The REST API's application, not yet serving a desk (see :func:`bind`)."""
    api = FastAPI(
        title="Supportbot API",
        version="1",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    errors.install(api)
    api.include_router(search.router)  # before tickets: /tickets/search is not a number
    api.include_router(sharing.router)
    api.include_router(tickets.router)
    api.include_router(attachments.router)
    api.include_router(config_routes.router)
    api.include_router(rules_routes.router)
    # Outermost last: the size check answers before the access log or the app see the request.
    api.add_middleware(AccessLog)
    uploads = (attachments.UPLOAD_PATH, lambda desk: desk.settings.attachments.max_bytes + MAX_BODY)
    api.add_middleware(BodyLimit, limit=MAX_BODY, wider=[uploads])
    return api
