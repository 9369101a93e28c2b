"""Outlook's conversation index (``Thread-Index``, MAPI PidTagConversationIndex): pure.

Outlook and Exchange thread by it rather than by References, and some of their
replies carry nothing else. [MS-OXOMSG] 2.2.1.3 describes it: a 22-byte header
naming the conversation (a reserved byte 0x01, the high 40 bits of the FILETIME
the conversation started at, a 16-byte GUID), then one 5-byte child block per
reply or forward, each recording when it was written relative to the header.

A reply extends its parent's index by a block; an identical index is not a
reply to Outlook. So every mail we send on a ticket carries the ticket's root
extended by one block per earlier message, and a message whose index starts
with a ticket's root belongs to that conversation (:func:`root_of`).

Two header layouts are in the wild, both starting with 0x01: the documented one
(Exchange 2013 on, Exchange Online, OWA: 0x01, then FILETIME >> 24 in five bytes),
which is what we write, and desktop Outlook's older one (FILETIME >> 16 in six
bytes, whose top byte is 0x01 from 1829 to 2057 and doubles as the reserved one).
Only :func:`started` needs to tell them apart.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime, timedelta

HEADER = 22
CHILD = 5
RESERVED = 0x01
# More replies than a real conversation reaches; past it the header is someone's toy.
MAX_CHILDREN = 100
# The longest header value worth decoding: base64 of the longest index, with room for folding.
MAX_TEXT = 2 * (4 * (HEADER + CHILD * MAX_CHILDREN) // 3 + 4)

EPOCH = datetime(1601, 1, 1, tzinfo=UTC)  # where FILETIME counts from, in 100 ns ticks
# DC 0 blocks keep bits 18..48 of the difference (up to about 1.7 years, in 26 ms steps);
# DC 1 blocks bits 23..53 (about 57 years, in 0.84 s steps).
SHORT_SHIFT, LONG_SHIFT = 18, 23
SHORT_LIMIT = 1 << (31 + SHORT_SHIFT)
MAX_DELTA = (1 << 31) - 1


def filetime(when: datetime) -> int:
    """100 ns ticks since 1601 (Windows' FILETIME); a naive time is taken as UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def new_root(at: datetime, guid: bytes) -> bytes:
    """The 22-byte header of a new conversation started ``at``; ``guid``: 16 random bytes
    (``uuid4().bytes``), which is what makes it this conversation and no other."""
    if len(guid) != 16:
        raise ValueError(f"a conversation GUID has 16 bytes, not {len(guid)}")
    return bytes([RESERVED]) + (filetime(at) >> 24).to_bytes(5, "big") + guid


def fresh_root(at: datetime) -> str:
    """A new conversation's header, encoded as tickets keep it."""
    return encode(new_root(at, uuid.uuid4().bytes))


def started(index: bytes) -> datetime:
    """When the conversation began, by its header, in either layout."""
    return EPOCH + timedelta(microseconds=_header_ticks(index) // 10)


def extended(index: bytes, count: int, at: datetime, noise: bytes) -> bytes:
    """``index`` with ``count`` child blocks more, each timed ``at``.

    ``noise`` gives each block its 4 random bits (one byte a block, only its low
    nibble used); the 4-bit sequence counts the blocks, so blocks of the same
    instant still differ. A time before the header's (a skewed clock) counts as
    no time at all.
    """
    if count < 0 or len(noise) < count:
        raise ValueError(f"{count} blocks need as many bytes of noise, not {len(noise)}")
    difference = max(filetime(at) - _header_ticks(index), 0)
    if difference < SHORT_LIMIT:
        code = difference >> SHORT_SHIFT
    else:
        code = (1 << 31) | min(difference >> LONG_SHIFT, MAX_DELTA)
    time_part = code.to_bytes(4, "big")
    existing = (len(index) - HEADER) // CHILD
    blocks = (time_part + bytes([(noise[i] & 0x0F) << 4 | ((existing + i) & 0x0F)]) for i in range(count))
    return index + b"".join(blocks)


def delays(index: bytes) -> tuple[timedelta, ...]:
    """How long after the header each child block says it was written, as the spec reads them."""
    _check_header(index)
    found = []
    for offset in range(HEADER, len(index) - CHILD + 1, CHILD):
        code = int.from_bytes(index[offset : offset + 4], "big")
        shift = LONG_SHIFT if code >> 31 else SHORT_SHIFT
        found.append(timedelta(microseconds=((code & MAX_DELTA) << shift) // 10))
    return tuple(found)


def parse(value: str) -> bytes | None:
    """The index a header value carries, or None for anything that is not a well-formed one.

    Folding whitespace is dropped and missing base64 padding forgiven (CDO and some
    gateways leave it off); anything else odd (other characters, a length that is no
    header plus whole blocks, a wrong first byte, a hundred replies and more) is no index.
    """
    if len(value) > 4 * MAX_TEXT:  # before any work on it: the header is the sender's to size
        return None
    text = "".join(value.split())
    if not text or len(text) > MAX_TEXT:
        return None
    try:
        index = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):  # ValueError: characters outside ASCII
        return None
    if len(index) < HEADER or (len(index) - HEADER) % CHILD:
        return None
    if len(index) > HEADER + CHILD * MAX_CHILDREN or index[0] != RESERVED:
        return None
    return index


def root_of(value: str) -> str | None:
    """The conversation a ``Thread-Index`` header names: its 22-byte header in base64 (32
    characters, as ``tickets.thread_index`` keeps it), or None when it is no index."""
    index = parse(value)
    return encode(index[:HEADER]) if index is not None else None


def encode(index: bytes) -> str:
    return base64.b64encode(index).decode("ascii")


def _header_ticks(index: bytes) -> int:
    _check_header(index)
    if index[1] == RESERVED:  # documented: 0x01, then FILETIME >> 24, whose own top byte is 0x01
        return int.from_bytes(index[1:6], "big") << 24
    return int.from_bytes(index[0:6], "big") << 16  # desktop Outlook's: FILETIME >> 16 from byte 0


def _check_header(index: bytes) -> None:
    if len(index) < HEADER or index[0] != RESERVED:
        raise ValueError("not a conversation index: it starts with a 22-byte header of first byte 0x01")
