"""Small helpers of the raw ASGI middleware (body limit, bearer gate, access log).

They answer before FastAPI sees a request, so they speak ASGI messages, in the
API's JSON error format.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from starlette.types import Scope, Send

from bot.desk.facade import Desk

CLOSE = (b"connection", b"close")


def desk_of(scope: Scope) -> Desk:
    """The desk the API application serves (its state), read per request: the application
    is built once and may be bound to another desk (each test's own)."""
    desk: Desk = scope["app"].state.desk
    return desk


def local_path(scope: Scope) -> str:
    """The path below the mount point (``/tickets/...`` under ``/api/v1``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def body_follows(scope: Scope) -> bool:
    """Whether the client sends a body after the head: chunked, or a Content-Length above 0."""
    if header(scope, b"transfer-encoding") is not None:
        return True
    length = header(scope, b"content-length")
    return length is not None and length.strip() not in (b"", b"0")


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def answer_json(
    send: Send,
    status: int,
    message: str,
    field: str | None,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """``{"error": {"message", "field"}}``, as every API error (see errors.py)."""
    body = json.dumps({"error": {"message": message, "field": field}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
