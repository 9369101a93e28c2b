"""Page cursors: where a page of a ticket list ended, as an opaque text a client hands back.

The base64 of ``<id>`` in the default order (as it was before lists could be sorted, so
those cursors still work) or ``<sort>,<value>,<id>`` in another. Which order a cursor
belongs to is checked with the query (:func:`bot.read.sorting.position`). The REST API
and the web desk's queue hand out the same cursors.
"""

from __future__ import annotations

import base64
import binascii
import re

from bot.errors import UserError
from bot.model import MAX_TICKET_ID
from bot.read import sorting

_POSITION = re.compile(r"(-?[a-z_]+),(-?[0-9]{1,20}),([0-9]{1,10})")


def encode(at: sorting.Position | int) -> str:
    """``at``: where the page ended, or the id of its last ticket in the default order."""
    if isinstance(at, int):
        at = sorting.Position(sorting.DEFAULT, at, at)
    if at.sort == sorting.DEFAULT:
        text = str(at.ticket_id)
    else:
        text = f"{at.sort},{at.value},{at.ticket_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(cursor: str) -> sorting.Position:
    """Where the previous page ended; UserError (field ``cursor``) for anything not handed out."""
    refused = UserError("not a cursor this desk handed out", field="cursor")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise refused from None
    if text.isdigit() and 0 < int(text) <= MAX_TICKET_ID + 1:
        return sorting.Position(sorting.DEFAULT, int(text), int(text))
    parts = _POSITION.fullmatch(text)
    try:
        if parts is None:
            raise ValueError(text)
        sort, value, ticket_id = parts.groups()
        return sorting.position(sort, int(value), int(ticket_id))
    except (ValueError, UserError):
        raise refused from None
