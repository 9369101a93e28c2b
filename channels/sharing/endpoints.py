"""The protocol's endpoints, served under ``sharing.base_path`` on the HTTP port.

Answers follow the interop notes in ``../shared/ticket_sharing.md``: JSON in
(``application/json``, ``text/x-json``, ``text/json`` or no content type),
``{}`` on success and ``{"error": ...}`` on failure, never 400 or 409 (the
Zendesk client raises on those instead of counting a failure), 401 with
``WWW-Authenticate: X-Ticket-Sharing``, 410 once the agreement or share ended.
The version header is not required (Zendesk never sends it); another version
than 1 is refused with 412. The work runs in a thread, off the event loop.

A request that needs a token has it checked before its body is read, so only a
partner can make us read up to ``sharing.max_body_bytes``; an invitation, which
anyone may send, is read up to ``INVITATION_MAX_BYTES`` only.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from bot.errors import NotFound, StoreUnavailable, UserError
from bot.sharing import protocol as p
from bot.sharing.service import Sharing

logger = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]

# An invitation is a small JSON document (names, two URLs, a few flags).
INVITATION_MAX_BYTES = 64 * 1024


def sharing_routes(sharing: Sharing) -> list[Mount]:
    settings = sharing.settings.sharing
    if not settings.enabled:
        return []
    limit = settings.max_body_bytes

    async def agreement(request: Request) -> Response:
        uuid = request.path_params["uuid"]
        token = request.headers.get(p.TOKEN_HEADER)
        if request.method == "GET":
            return JSONResponse(await asyncio.to_thread(sharing.read_agreement, token, uuid))
        if request.method == "POST":  # an invitation: its token, if any, is checked against the body
            body = await _json(request, INVITATION_MAX_BYTES)
            # The client's address as the server knows it (behind a proxy: as the proxy says).
            source = request.client.host if request.client else None
            created = await asyncio.to_thread(sharing.receive_invitation, token, uuid, body, source)
            return _done(request, 201 if created else 200)
        await asyncio.to_thread(sharing.check_token, token, uuid)
        body = await _json(request, limit)
        await asyncio.to_thread(sharing.change_agreement, token, uuid, body)
        return _done(request, 200)

    async def ticket(request: Request) -> Response:
        uuid = request.path_params["uuid"]
        token = request.headers.get(p.TOKEN_HEADER)
        if request.method == "GET":
            return JSONResponse(await asyncio.to_thread(sharing.read_ticket, token, uuid))
        if request.method == "DELETE":  # the gem sends an empty string as the body
            await asyncio.to_thread(sharing.unshare_ticket, token, uuid)
            return _done(request, 200)
        await asyncio.to_thread(sharing.check_token, token)
        body = await _json(request, limit)
        if request.method == "POST":
            created = await asyncio.to_thread(sharing.receive_ticket, token, uuid, body)
            return _done(request, 201 if created else 200)
        await asyncio.to_thread(sharing.update_ticket, token, uuid, body)
        return _done(request, 200)

    routes = [
        Route("/agreements/{uuid}", _guarded(agreement), methods=["GET", "POST", "PUT"]),
        Route("/tickets/{uuid}", _guarded(ticket), methods=["GET", "POST", "PUT", "DELETE"]),
    ]
    return [Mount(settings.base_path.rstrip("/"), routes=routes)]


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


def _guarded(handler: Handler) -> Handler:
    """Every failure becomes the protocol's answer, in JSON; our own errors are logged with
    their traceback and answered 500, never a bare page."""

    async def endpoint(request: Request) -> Response:
        version = request.headers.get(p.VERSION_HEADER)
        try:
            if version is not None and version.strip() != p.VERSION:
                raise _Refused(412, f"this help desk speaks {p.VERSION_HEADER} {p.VERSION}")
            return await handler(request)
        except (_Refused, p.ProtocolError) as refused:
            _log(request, refused.status, refused.message)
            return _error(refused.status, refused.message)
        except NotFound as error:
            _log(request, 404, error.message)
            return _error(404, error.message)
        except UserError as error:  # a rule of ours the change breaks (a merged ticket, ...)
            _log(request, 422, error.message)
            return _error(422, error.message)
        except StoreUnavailable:
            _log(request, 503, "store unavailable")
            return _error(503, "the help desk cannot reach its database; try again", retry=True)
        except Exception:
            logger.exception("sharing %s %s failed", request.method, _resource(request))
            return _error(500, "the help desk failed to take this request; it is logged")

    return endpoint


async def _json(request: Request, limit: int) -> Any:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind and kind not in p.JSON_TYPES:
        raise _Refused(422, f"send JSON ({', '.join(p.JSON_TYPES)}), not {kind}")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _Refused(422, f"the body is over {limit} bytes")
    body = bytearray()  # grown in place: bytes += bytes would copy the whole body per chunk
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _Refused(422, f"the body is over {limit} bytes")
    # Megabytes of JSON take a while to parse and walk: not on the event loop.
    return await asyncio.to_thread(_parse, body)


def _parse(body: bytearray) -> Any:
    try:
        parsed = json.loads(body.decode("utf-8"), parse_constant=_no_constant) if body.strip() else {}
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _Refused(422, "the body is not UTF-8 JSON (nested at most a few hundred levels)") from None
    p.check_text(parsed)  # NUL or a lone surrogate anywhere: refused before anything is stored
    return parsed


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON, and PostgreSQL's JSON refuses them."""
    raise ValueError(f"{name} is not JSON")


def _done(request: Request, status: int) -> Response:
    _log(request, status, "ok")
    return JSONResponse({}, status_code=status)


def _error(status: int, message: str, *, retry: bool = False) -> Response:
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = "X-Ticket-Sharing"
    if retry:
        headers["Retry-After"] = "30"
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _resource(request: Request) -> str:
    """``tickets 'b5e0…'``: the kind and the uuid's head; the token, the secret, is never logged."""
    kind = request.url.path.rsplit("/", 2)[-2]
    uuid = str(request.path_params.get("uuid", ""))[:12]
    return f"{kind} {uuid!r}"


def _log(request: Request, status: int, outcome: str) -> None:
    level = logging.INFO if status < 400 else logging.WARNING
    logger.log(level, "sharing %s %s: %d %s", request.method, _resource(request), status, outcome[:200])
