"""Outlook's conversation index: real headers decode as their senders wrote them, ours extend
a root the way Outlook does, and anything that is not an index names no conversation."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from bot.thread_index import (
    HEADER,
    MAX_CHILDREN,
    delays,
    encode,
    extended,
    filetime,
    new_root,
    parse,
    root_of,
    started,
)

GUID = bytes(range(16))
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# Thread-Index values real mail carried, with what they decode to. Desktop Outlook's layout:
# one reply, 14:03:22.5476096 after a conversation begun 2018-07-16 07:40:00.2799616 UTC
# (community.metaspike.com, "Thread-Index Header Field", decoded by the forensic tool there).
OUTLOOK_DESKTOP = "AdQc2DN7rLoS3hgnE/O76rpFzxN/EwAddF4A"
# Exchange Online's layout (the thread_index package on hex.pm: 2020-05-18 12:54:02.646732).
EXCHANGE_ONLINE = "AQHWLRNo4NaOjvXU8EODe0ZotrA8B6itzaxf"
# Five replies deep, quoted in FreeScout issue #4922 the day its conversation began.
FREESCOUT_4922 = "AQHb9piJBsCGD1GVoU+wxkNV9ElnybQ1RAuAgAAAtACAAACgAIAAALSAgAAA84A="
# Microsoft's CDO documentation example: a bare header, base64 padding left off.
CDO_EXAMPLE = "Ab7TEZtW04eKS19qTMukQad1gGNu3A"


@pytest.mark.parametrize(
    ("value", "began", "replies"),
    [
        (OUTLOOK_DESKTOP, datetime(2018, 7, 16, 7, 40, 0, 279961, tzinfo=UTC), 1),
        (EXCHANGE_ONLINE, datetime(2020, 5, 18, 12, 54, 2, 646732, tzinfo=UTC), 1),
        (FREESCOUT_4922, datetime(2025, 7, 16, 21, 28, 13, 150208, tzinfo=UTC), 5),
        (CDO_EXAMPLE, datetime(1999, 7, 21, 0, 40, 18, 696192, tzinfo=UTC), 0),
    ],
)
def test_real_headers_decode_in_either_layout(value, began, replies):
    index = parse(value)
    assert index is not None and started(index) == began
    assert len(delays(index)) == replies
    root = root_of(value)
    assert root is not None and len(root) == 32 and base64.b64decode(root) == index[:HEADER]


def test_a_desktop_outlook_reply_block_reads_as_its_decoder_read_it():
    index = parse(OUTLOOK_DESKTOP)
    assert index is not None
    assert delays(index) == (timedelta(hours=14, minutes=3, seconds=22, microseconds=547609),)


def test_a_new_root_is_22_bytes_reserved_byte_time_and_guid():
    root = new_root(START, GUID)
    assert len(root) == HEADER and root[0] == 0x01 and root[6:] == GUID
    assert root[1:6] == (filetime(START) >> 24).to_bytes(5, "big")
    # The high 40 bits: the start is known to within 1.7 s, never later than it was.
    assert START - timedelta(seconds=1.7) < started(root) <= START
    assert root_of(encode(root)) == encode(root)


def test_a_new_root_wants_a_whole_guid():
    with pytest.raises(ValueError, match="16 bytes"):
        new_root(START, b"short")


def test_each_reply_appends_a_five_byte_block_timed_from_the_header():
    root = new_root(START, GUID)
    later = START + timedelta(hours=3)
    index = extended(root, 3, later, b"\xff\x00\x0a")
    assert len(index) == HEADER + 3 * 5 and index[:HEADER] == root
    assert root_of(encode(index)) == encode(root)
    blocks = [index[offset : offset + 5] for offset in range(HEADER, len(index), 5)]
    assert all(block[0] >> 7 == 0 for block in blocks), "under 1.7 years: delta code 0"
    # The same instant in each; the random nibble from the noise, the sequence counting them.
    assert [block[4] for block in blocks] == [0xF0, 0x01, 0xA2]
    for delay in delays(index):
        assert timedelta(0) <= (later - started(root)) - delay < timedelta(milliseconds=27)


def test_blocks_added_later_continue_the_sequence():
    index = extended(extended(new_root(START, GUID), 2, START, b"\x00\x00"), 1, START, b"\x00")
    assert index[-1] & 0x0F == 2


def test_a_reply_years_later_switches_to_the_long_delta_code():
    root = new_root(START, GUID)
    later = START + timedelta(days=2 * 365)
    index = extended(root, 1, later, b"\x00")
    assert index[HEADER] >> 7 == 1
    [delay] = delays(index)
    assert timedelta(0) <= (later - started(root)) - delay < timedelta(seconds=1)


def test_the_delta_code_changes_where_31_short_bits_run_out():
    root = new_root(START, GUID)
    limit = timedelta(microseconds=(1 << 49) // 10)
    began = started(root)
    short = extended(root, 1, began + limit - timedelta(seconds=1), b"\x00")
    long = extended(root, 1, began + limit + timedelta(seconds=1), b"\x00")
    assert (short[HEADER] >> 7, long[HEADER] >> 7) == (0, 1)


def test_a_clock_behind_the_header_records_no_time_rather_than_a_negative_one():
    index = extended(new_root(START, GUID), 1, START - timedelta(days=1), b"\x00")
    assert delays(index) == (timedelta(0),)


def test_an_adopted_desktop_outlook_root_is_extended_from_its_own_start():
    index = parse(OUTLOOK_DESKTOP)
    assert index is not None
    root = index[:HEADER]
    mine = extended(root, 1, started(root) + timedelta(days=1), b"\x00")
    [delay] = delays(mine)
    assert timedelta(0) <= timedelta(days=1) - delay < timedelta(milliseconds=27)


def test_extending_wants_noise_for_every_block():
    with pytest.raises(ValueError, match="noise"):
        extended(new_root(START, GUID), 2, START, b"\x00")


def test_a_naive_time_is_taken_as_utc():
    assert filetime(START.replace(tzinfo=None)) == filetime(START)


def test_folding_whitespace_and_missing_padding_are_forgiven():
    folded = f" {FREESCOUT_4922[:30]}\r\n\t{FREESCOUT_4922[30:].rstrip('=')} "
    assert root_of(folded) == root_of(FREESCOUT_4922)


ROOT = encode(new_root(START, GUID))


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "not base64 at all!",
        ROOT[:-4] + "Ab$=",  # a character base64 has not
        "Zm9v",  # three bytes
        encode(new_root(START, GUID)[:21]),  # one short of a header
        encode(new_root(START, GUID) + b"\x00\x00\x00"),  # a partial block
        encode(b"\x02" + new_root(START, GUID)[1:]),  # the wrong reserved byte
        encode(extended(new_root(START, GUID), MAX_CHILDREN + 1, START, bytes(MAX_CHILDREN + 1))),
        "A" * 100_000,  # too long to be worth decoding
        ROOT[:10] + "\u00e9" + ROOT[11:],  # not ASCII
        ROOT + "=" * 4,  # padding where none belongs
    ],
)
def test_anything_but_a_well_formed_index_names_no_conversation(value):
    assert root_of(value) is None


def test_a_hundred_replies_are_still_an_index():
    deep = extended(new_root(START, GUID), MAX_CHILDREN, START, bytes(MAX_CHILDREN))
    assert root_of(encode(deep)) == ROOT


def test_a_header_is_needed_to_decode():
    for broken in (b"", b"\x01" * 21, b"\x02" + bytes(21)):
        with pytest.raises(ValueError, match="not a conversation index"):
            started(broken)
