"""Attachments sent to the browser: always as downloads, under a type that cannot run here.

What a sender declared a file to be is not trusted: a file declared ``text/javascript``
or ``text/html`` and served as such from this origin could be loaded as a script by a
page of ours (past ``script-src 'self'``) if HTML were ever injected. Only a few inert
types keep their name; everything else is ``application/octet-stream``.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from starlette.responses import Response, StreamingResponse

from bot.tickets.attachments import StoredFile

INERT_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain", "text/csv"}
)


def content_disposition(filename: str) -> str:
    """``attachment`` (never shown inline, so an uploaded page cannot run in this origin), with
    an ASCII fallback name and the exact one per RFC 6266 / 5987."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback or 'attachment'}\"; filename*=UTF-8''{quote(filename, safe='')}"


def served_type(declared: str) -> str:
    kind = declared.split(";", 1)[0].strip().lower()
    return kind if kind in INERT_TYPES else "application/octet-stream"


def inert_headers(filename: str) -> dict[str, str]:
    """What every download of a stranger's bytes carries: saved, never run or sniffed."""
    return {
        "content-disposition": content_disposition(filename),
        "x-content-type-options": "nosniff",
        "content-security-policy": "sandbox; default-src 'none'",
        "cross-origin-resource-policy": "same-origin",
    }


def download(stored: StoredFile, body: Iterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type=served_type(stored.content_type),
        headers={**inert_headers(stored.filename), "content-length": str(stored.size)},
    )


def download_bytes(data: bytes, filename: str, content_type: str) -> Response:
    """Bytes already in hand (a suspended message's raw source), served as :func:`download` does."""
    return Response(data, media_type=served_type(content_type), headers=inert_headers(filename))
