"""Attachments: the size limits every channel shares, and keeping a file on a comment.

Files go to the content-addressed :class:`~bot.store.files.FileStore` before the
row that names them (see ``bot/store/files.py``), so a rolled-back transaction leaves at most
an unreferenced file. Reading them back, as a person may see them, is
:mod:`bot.read.files`.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select

from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.config.settings import AttachmentSettings
from bot.errors import TooLarge
from bot.messages import IncomingFile
from bot.model import Actor
from bot.store import tables as t
from bot.tickets import changes as tickets
from bot.unit import Unit

CHUNK = 64 * 1024
FALLBACK_TYPE = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    comment_id: int | None
    created_at: datetime
    # An image the message's HTML shows inline, by its Content-ID (``cid:``): how a reader of
    # a comment's HTML finds the file each ``<img src="cid:...">`` names.
    inline: bool = False
    content_id: str | None = None

    @classmethod
    def of(cls, row: t.Attachment) -> StoredFile:
        return cls(
            row.id,
            row.filename,
            row.content_type,
            row.size,
            row.sha256,
            row.comment_id,
            row.created_at,
            bool(row.inline),
            row.content_id,
        )


def limit_broken(limits: AttachmentSettings, size: int, total: int) -> int | None:
    """The limit a file of ``size`` bytes breaks, ``total`` being the message's bytes so far with it."""
    if size > limits.max_bytes:
        return limits.max_bytes
    if total > limits.max_total_bytes:
        return limits.max_total_bytes
    return None


def refuse(unit: Unit, ticket: t.Ticket, actor: Actor, item: IncomingFile, limit: int) -> None:
    """A file over a limit is refused on record, not silently."""
    audit.record(
        unit,
        ticket_id=ticket.id,
        actor=actor,
        kind=AuditKind.ATTACHMENT_REFUSED,
        after={"filename": item.filename, "size": len(item.data), "limit": limit},
    )


def keep(unit: Unit, ticket: t.Ticket, comment: t.Comment, item: IncomingFile, digest: str) -> t.Attachment:
    """The row naming a file already in the file store (``digest``), on ``comment``."""
    row = t.Attachment(
        ticket_id=ticket.id,
        comment_id=comment.id,
        filename=item.filename[:500] or "attachment",
        content_type=item.content_type[:200] or FALLBACK_TYPE,
        size=len(item.data),
        sha256=digest,
        inline=item.inline,
        content_id=item.content_id,
        created_at=unit.now,
    )
    unit.session.add(row)
    return row


def keep_all(
    unit: Unit, ticket: t.Ticket, comment: t.Comment, items: Sequence[IncomingFile]
) -> list[t.Attachment]:
    """Files on a comment just written (a web form's reply), all or none: one over the limits
    refuses them all (``TooLarge``) and, raised, the caller's transaction with them."""
    total = 0
    for item in items:
        total += len(item.data)
        limit = limit_broken(unit.settings.attachments, len(item.data), total)
        if limit is not None:
            name = safe_filename(item.filename)
            raise TooLarge(f"{name} is over the limit of {limit} bytes", field="files")
    rows: list[t.Attachment] = []
    for item in items:
        named = replace(item, filename=safe_filename(item.filename))
        rows.append(keep(unit, ticket, comment, named, unit.files.put(item.data)))
    unit.session.flush()
    return rows


def safe_filename(name: str) -> str:
    """The last path part, without control characters or leading dots: a name, never a path."""
    base = re.split(r"[/\\]", name)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip().lstrip(".").strip()
    return base[:255] or "attachment"


def content_type_of(filename: str, given: str | None) -> str:
    """The type the sender declared, else one guessed from the name. ``application/octet-stream``
    is what clients send when they do not know, so it counts as not declared."""
    declared = (given or "").strip()
    if "/" in declared and declared.split(";")[0].strip().lower() != FALLBACK_TYPE:
        return declared[:200]
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or FALLBACK_TYPE


def attach(
    unit: Unit, actor: Actor, number: str, item: IncomingFile, text: str, *, public: bool, channel: str
) -> StoredFile:
    """A comment carrying one file. Over the limits it is refused before anything is written;
    who may comment (and write internal notes) is the same as for any comment."""
    limit = limit_broken(unit.settings.attachments, len(item.data), len(item.data))
    if limit is not None:
        raise TooLarge(f"the file is over the limit of {limit} bytes", field="file")
    item = IncomingFile(
        filename=safe_filename(item.filename),
        content_type=item.content_type,
        data=item.data,
    )
    ticket, comment = tickets.comment(
        unit, actor, number, text.strip() or f"Attached {item.filename}", public=public, channel=channel
    )
    row = keep(unit, ticket, comment, item, unit.files.put(item.data))
    unit.session.flush()
    return StoredFile.of(row)


def inline_images(unit: Unit, ticket: t.Ticket, files: Sequence[IncomingFile]) -> dict[str, str | None]:
    """The ticket's inline images by content, with the Content-ID each was kept under; read
    only when the message brings inline files of its own."""
    if not any(item.inline for item in files):
        return {}
    rows = unit.session.execute(
        select(t.Attachment.sha256, t.Attachment.content_id)
        .where(t.Attachment.ticket_id == ticket.id, t.Attachment.inline.is_(True))
        .order_by(t.Attachment.id)
    )
    known: dict[str, str | None] = {}
    for digest, content_id in rows:
        known.setdefault(digest, content_id)
    return known


def same_images(html: str | None, files: Sequence[IncomingFile], known: dict[str, str | None]) -> str | None:
    """``html`` naming, for each inline image the ticket already has, the copy already kept
    (its ``cid:``): the new copy is not kept again, yet the image still resolves."""
    if not html or not known or "cid:" not in html:
        return html
    for item in files:
        if not (item.inline and item.content_id):
            continue
        kept = known.get(hashlib.sha256(item.data).hexdigest())
        if kept and kept != item.content_id:
            # Escaped for re's template: a Content-ID is the sender's text, backslashes included.
            named = f"cid:{kept}".replace("\\", "\\\\")
            html = re.sub(rf"cid:{re.escape(item.content_id)}(?=[\"'\s>)]|$)", named, html)
    return html


def attach_received(
    unit: Unit,
    ticket: t.Ticket,
    comment: t.Comment,
    files: Sequence[IncomingFile],
    actor: Actor,
    known_images: dict[str, str | None],
) -> None:
    """Keep each file of a received message once by content; what is over a limit is refused
    on record, not silently.

    An inline image the ticket already has (``known_images``: the logo in every signature)
    is not attached again: replies would otherwise each carry the same picture.
    """
    if not files:
        return
    limits = unit.settings.attachments
    seen_inline = set(known_images)
    total = 0
    for item in files:
        total += len(item.data)
        limit = limit_broken(limits, len(item.data), total)
        if limit is not None:
            refuse(unit, ticket, actor, item, limit)
            continue
        digest = unit.files.put(item.data)
        if item.inline and digest in seen_inline:
            continue
        if item.inline:
            seen_inline.add(digest)
        keep(unit, ticket, comment, item, digest)
    unit.session.flush()
