"""Which Slack messages are taken in and what they say; pure."""

from __future__ import annotations

import pytest

from bot.config.settings import SlackSettings
from bot.messages import Identity
from channels.slack.inbound import is_ingested, message_inbound
from channels.slack.text import escape, escape_all, first_line, split_note, to_plain

SETTINGS = SlackSettings(bot_token="xoxb", signing_secret="s", support_channel="CSUP")
ANN = Identity(email="ann@example.com", slack_user_id="UANN")


def test_markup_becomes_plain_text():
    text = (
        "Hi <@U1|ann>, see <#C2|general> and <https://x.test/a|the doc> or <https://y.test> &lt;3 &amp; more"
    )
    assert (
        to_plain(text) == "Hi @ann, see #general and the doc (https://x.test/a) or https://y.test <3 & more"
    )
    assert to_plain("<!here> <mailto:a@b.test|a@b.test>") == "@here a@b.test (mailto:a@b.test)"


def test_escape_keeps_text_from_pinging_or_linking():
    assert escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert escape_all({"a": ["<b>", 1], "c": None}) == {"a": ["&lt;b&gt;", 1], "c": None}


def test_first_line_makes_a_short_subject():
    assert first_line("\n\n  Printer on fire  \nmore") == "Printer on fire"
    assert first_line("word " * 40, limit=20).endswith("…")
    assert len(first_line("word " * 40, limit=20)) <= 21


def test_note_prefix_is_case_insensitive_and_dropped():
    assert split_note("  NOTE: check logs", "note:") == ("check logs", True)
    assert split_note("a note: in the middle", "note:") == ("a note: in the middle", False)


@pytest.mark.parametrize(
    "event",
    [
        {"subtype": "message_changed", "user": "UANN"},
        {"subtype": "message_deleted"},
        {"subtype": "channel_join", "user": "UANN"},
        {"subtype": "bot_message", "bot_id": "B1"},
        {"user": "UANN", "bot_id": "B1"},
        {"user": "UBOT"},
        {},
    ],
)
def test_only_peoples_own_messages_are_taken_in(event):
    assert not is_ingested(event, "UBOT")


def test_plain_messages_and_file_shares_are_taken_in():
    assert is_ingested({"user": "UANN"}, "UBOT")
    assert is_ingested({"user": "UANN", "subtype": "file_share"}, "UBOT")


def test_thread_reply_refers_to_its_thread_and_may_not_open_a_ticket():
    event = {"channel": "CSUP", "ts": "2.0", "thread_ts": "1.0", "text": "note: internal", "user": "UANN"}
    inbound = message_inbound(event, ANN, SETTINGS)
    assert inbound is not None
    assert (inbound.key, inbound.references, inbound.internal, inbound.may_open, inbound.text) == (
        "CSUP:2.0",
        ("CSUP:1.0",),
        True,
        False,
        "internal",
    )


def test_direct_message_opens_a_ticket_unless_turned_off():
    event = {"channel": "D1", "channel_type": "im", "ts": "3.0", "text": "VPN down\nsince 9", "user": "UANN"}
    inbound = message_inbound(event, ANN, SETTINGS)
    assert inbound is not None and (inbound.subject, inbound.may_open) == ("VPN down", True)
    off = SlackSettings(bot_token="xoxb", signing_secret="s", dm_opens_ticket=False)
    assert message_inbound(event, ANN, off) is None


def test_shared_files_are_named_with_their_links():
    event = {
        "channel": "D1",
        "channel_type": "im",
        "ts": "3.0",
        "text": "",
        "files": [{"title": "screenshot.png", "permalink": "https://acme.slack.com/files/F1"}],
    }
    inbound = message_inbound(event, ANN, SETTINGS)
    assert inbound is not None and "[file: screenshot.png] https://acme.slack.com/files/F1" in inbound.text


def test_top_level_channel_message_is_not_a_ticket():
    assert message_inbound({"channel": "CSUP", "ts": "1.0", "text": "hello"}, ANN, SETTINGS) is None
