"""The ASGI application served by ``supportbot serve``: health, metrics and the REST API.

Its outermost layers are the security headers (headers.py) and the body limit
(limits.py), so every route served here, the API's and the ones other channels hand in
(Slack, sharing, the web desk), carries them and is bounded.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.routing import BaseRoute

from bot.desk.facade import Desk
from bot.errors import StoreUnavailable
from bot.sharing.service import Sharing
from bot.store.db import Store
from channels.http import (
    attachments,
    automations_routes,
    config_routes,
    errors,
    held_routes,
    rules_routes,
    search,
    sharing,
    tickets,
)
from channels.http.access import AccessLog
from channels.http.asgi import desk_of
from channels.http.auth import BearerGate
from channels.http.denials import Denials
from channels.http.headers import SecurityHeaders
from channels.http.limits import BodyLimit
from channels.http.metrics import metrics_endpoint

# JSON bodies; an upload may be max_bytes of attachment larger (see attachments.py).
MAX_BODY = 1024 * 1024
API_ROOT = "/api/v1"
API_PATH = re.compile(rf"^{API_ROOT}(?:/|$)")
# The upload route, seen from the outer application (attachments.UPLOAD_PATH is below the mount).
UPLOAD_FROM_ROOT = re.compile(API_ROOT + attachments.UPLOAD_PATH.pattern.removeprefix("^"))


def create_app(
    store: Store,
    routes: Sequence[BaseRoute] = (),
    desk: Desk | None = None,
    api: FastAPI | None = None,
    limits: Sequence[tuple[re.Pattern[str], int]] = (),
) -> FastAPI:
    """``routes`` are other channels' endpoints served here too (Slack's ``/slack/events``);
    the composition root hands them in, so this module never imports another channel.
    Without a ``desk`` only the health check is served. ``api`` is an API application
    built before (:func:`api_application`), bound here to ``desk``: building one costs
    a few tenths of a second, which a test suite pays once instead of per test. ``limits``
    are other channels' paths that take larger bodies (the web desk's forms with files)."""
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

    # Every route not named below (Slack's, whose payloads are a few KB; health, metrics)
    # takes 1 MiB, and a larger Content-Length is refused before a byte is read.
    paths: list[tuple[re.Pattern[str], int]] = []
    counted_only: list[re.Pattern[str]] = []
    if desk is not None:
        served = bind(api or api_application(), desk)
        denials: Denials = served.state.denials
        app.add_api_route(
            "/metrics",
            metrics_endpoint(desk, [denials.unauthenticated, denials.not_audited]),
            methods=["GET"],
            include_in_schema=False,
        )
        app.mount(API_ROOT, served)
        # Sharing's protocol takes a whole ticket with its comments from a partner. Its
        # endpoints check the token before they read a body and answer their own 422 past
        # their limits (a small one for invitations, which need no token), as does the API.
        sharing = sharing_path(desk.settings.sharing.base_path)
        paths = [
            (UPLOAD_FROM_ROOT, upload_limit(desk) + MAX_BODY),
            (API_PATH, 2 * MAX_BODY),
            (sharing, max(MAX_BODY, desk.settings.sharing.max_body_bytes) + MAX_BODY),
        ]
        counted_only = [API_PATH, sharing]
    paths += list(limits)
    # Counted as the bytes arrive, on every route. Where routes answer their own limit
    # (the API's middleware, sharing's 422), this is a ceiling a megabyte above it, so
    # theirs comes first.
    app.add_middleware(BodyLimit, limit=MAX_BODY, paths=paths, counted_only=counted_only)
    # Outermost: the body limit's refusals and the server's own errors carry them too.
    app.add_middleware(SecurityHeaders)
    return app


def sharing_path(base_path: str) -> re.Pattern[str]:
    """The sharing protocol's paths: known here from the settings, not from its channel."""
    return re.compile(rf"^{re.escape(base_path.rstrip('/'))}(?:/|$)")


def upload_limit(desk: Desk) -> int:
    return desk.settings.attachments.max_bytes + MAX_BODY


def create_api(desk: Desk) -> FastAPI:
    """The REST API serving ``desk``, with its own OpenAPI document at ``/api/v1/openapi.json``."""
    return bind(api_application(), desk)


def bind(api: FastAPI, desk: Desk) -> FastAPI:
    """Serve ``desk``: endpoints and middleware read it from the application's state."""
    api.state.desk = desk
    api.state.sharing = Sharing(desk)
    api.state.denials = Denials()
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
    api.include_router(automations_routes.router)
    api.include_router(held_routes.router)
    # Outermost last: the size check answers before the access log or the app see the
    # request (create_app puts a ceiling in front of every route too); the access
    # log records the gate's 401s; the gate answers before any endpoint reads a body.
    api.add_middleware(BearerGate)
    api.add_middleware(AccessLog)
    uploads = (attachments.UPLOAD_PATH, lambda scope: upload_limit(desk_of(scope)))
    api.add_middleware(BodyLimit, limit=MAX_BODY, paths=[uploads])
    return api
