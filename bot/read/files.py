"""Reading a ticket's files back: what this person may see of them, a chunk at a time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from sqlalchemy import select

from bot.errors import NotFound
from bot.model import Actor
from bot.read import queries
from bot.store import tables as t
from bot.tickets.attachments import CHUNK, StoredFile
from bot.unit import Unit


def visible_files(unit: Unit, actor: Actor, number: str) -> list[StoredFile]:
    """A ticket's files, oldest first; a requester's only those on comments they may see."""
    detail = queries.visible_ticket(unit, actor, number)
    shown = {comment.id for comment in detail.comments}
    rows = unit.session.scalars(
        select(t.Attachment).where(t.Attachment.ticket_id == detail.ticket.id).order_by(t.Attachment.id)
    )
    return [StoredFile.of(row) for row in rows if actor.role.is_staff or row.comment_id in shown]


def open_file(unit: Unit, actor: Actor, number: str, attachment_id: int) -> tuple[StoredFile, BinaryIO]:
    """One file of the ticket, opened for reading; NotFound alike for another ticket's or a hidden one."""
    for stored in visible_files(unit, actor, number):
        if stored.id == attachment_id:
            return stored, unit.files.path_for(stored.sha256).open("rb")
    raise NotFound(f"no attachment {attachment_id} on ticket {number}", field="attachment_id")


def chunks(handle: BinaryIO) -> Iterator[bytes]:
    """The file's bytes a chunk at a time, closing it at the end (or when the reader stops)."""
    with handle:
        while block := handle.read(CHUNK):
            yield block
