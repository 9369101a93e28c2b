"""``/tickets/{number}/attachments``: upload one file as a comment, list a ticket's files, download one.

An upload is read a chunk at a time and refused (413) as soon as it passes the
configured ``max_bytes``: at most ``max_bytes + 1`` bytes are read into memory.
A download streams the stored file as an attachment, never rendered inline,
so an uploaded HTML page cannot run in the API's origin.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, BaseModel

from bot.errors import TooLarge
from bot.messages import IncomingFile
from bot.tickets.attachments import CHUNK, StoredFile, content_type_of
from bot.views import to_jsonable
from channels.http.auth import CurrentActor, CurrentDesk
from channels.http.schemas import TEXT, ErrorOut, no_nul

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 413, 422, 503)
}
router = APIRouter(prefix="/tickets", tags=["attachments"], responses=ERRORS)

# The path the body limit middleware gives max_bytes more room (api.py): the file is
# checked here, the multipart framing and the comment text by the usual limit.
UPLOAD_PATH = re.compile(r"^/tickets/[^/]+/attachments/?$")


class FileOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    comment_id: int | None
    created_at: datetime
    inline: bool
    content_id: str | None


def _out(stored: StoredFile) -> dict[str, Any]:
    out: dict[str, Any] = to_jsonable(stored)
    return out


async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    """The upload's bytes, or TooLarge once more than ``limit`` have come."""
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        block = await upload.read(min(CHUNK, limit + 1 - size))
        if not block:
            return b"".join(parts)
        parts.append(block)
        size += len(block)
    raise TooLarge(f"the file is over the limit of {limit} bytes", field="file")


@router.post("/{number}/attachments", status_code=201, response_model=FileOut)
async def upload_attachment(
    number: str,
    actor: CurrentActor,
    desk: CurrentDesk,
    file: Annotated[UploadFile, File(description="One file, up to the configured max_bytes")],
    comment: Annotated[str, Form(max_length=TEXT), AfterValidator(no_nul)] = "",
    public: Annotated[bool, Form()] = True,
) -> dict[str, Any]:
    """A comment carrying the file, public unless ``public=false`` (agents and admins only).
    Requesters attach to their own tickets."""
    if not actor.role.is_staff:
        await asyncio.to_thread(desk.visible_ticket, actor, number)
    data = await _read_limited(file, desk.settings.attachments.max_bytes)
    filename = file.filename or "attachment"
    incoming = IncomingFile(
        filename=filename.replace("\x00", ""),
        content_type=content_type_of(filename, file.content_type),
        data=data,
    )
    stored = await asyncio.to_thread(
        lambda: desk.attach_file(actor, number, incoming, comment, public=public)
    )
    return _out(stored)


@router.get("/{number}/attachments", response_model=list[FileOut])
def list_attachments(number: str, actor: CurrentActor, desk: CurrentDesk) -> list[dict[str, Any]]:
    """Oldest first; requesters see only the files on public comments of their own tickets."""
    return [_out(stored) for stored in desk.ticket_files(actor, number)]


@router.get(
    "/{number}/attachments/{attachment_id}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_attachment(
    number: str, attachment_id: int, actor: CurrentActor, desk: CurrentDesk
) -> StreamingResponse:
    stored, body = desk.open_file(actor, number, attachment_id)
    return StreamingResponse(
        body,
        media_type=stored.content_type,
        headers={
            "Content-Disposition": content_disposition(stored.filename),
            "Content-Length": str(stored.size),
            "X-Content-Type-Options": "nosniff",
        },
    )


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact one per RFC 6266 / 5987."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback or 'attachment'}\"; filename*=UTF-8''{quote(filename, safe='')}"
