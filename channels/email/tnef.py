"""Outlook's ``winmail.dat`` (TNEF): the real attachments inside it, via tnefparse."""

from __future__ import annotations

import logging
import mimetypes

from tnefparse import TNEF

from bot.messages import IncomingFile

logger = logging.getLogger(__name__)


def unpack(data: bytes) -> list[IncomingFile]:
    """Empty when the blob holds no files or cannot be read; the caller then keeps the blob itself."""
    try:
        parsed = TNEF(data)
    except Exception as error:  # noqa: BLE001 - keep winmail.dat as it came rather than lose it
        logger.warning("winmail.dat could not be unpacked: %r", error)
        return []
    files = []
    for attachment in parsed.attachments:
        name = attachment.long_filename() or attachment.name or "attachment"
        if isinstance(name, bytes):
            name = name.decode("utf-8", errors="replace")
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        files.append(IncomingFile(str(name), kind, bytes(attachment.data)))
    return files
