from __future__ import annotations

import pytest

from bot.errors import UserError
from channels.slack.commands import (
    USAGE,
    AddComment,
    Assignee,
    AssignTicket,
    Escalate,
    Help,
    ListTickets,
    NewTicket,
    NewTicketModal,
    SetPriority,
    SetStatus,
    ShowTicket,
    UsageError,
    help_text,
    parse,
)


def usage_error(text: str, prefix: str = "SUP") -> UsageError:
    with pytest.raises(UsageError) as caught:
        parse(text, prefix)
    assert "\n" not in caught.value.message
    return caught.value


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP", "help me please"])
def test_empty_text_and_help_give_help(text: str) -> None:
    assert parse(text) == Help()


def test_subcommand_names_are_case_insensitive() -> None:
    assert parse("Show sup-3") == ShowTicket("SUP-3")
    assert parse("NEW Printer") == NewTicket("Printer")


def test_new_with_a_subject_opens_a_ticket_with_spacing_collapsed() -> None:
    assert parse("new   Printer  on\nfire ") == NewTicket("Printer on fire")


def test_new_without_a_subject_asks_for_the_modal() -> None:
    assert parse("new") == NewTicketModal()
    assert parse("new    ") == NewTicketModal()


def test_new_turns_slack_markup_into_plain_text() -> None:
    assert parse("new R&amp;D &lt;lab&gt; for <@U1|ann>") == NewTicket("R&D <lab> for @ann")


def test_new_refuses_a_subject_longer_than_the_modal_allows() -> None:
    error = usage_error("new " + "x" * 251)
    assert "more than 250" in error.message
    assert error.usage == USAGE["new"]
    assert parse("new " + "x" * 250) == NewTicket("x" * 250)


@pytest.mark.parametrize(
    ("text", "scope"),
    [("list", "mine"), ("list mine", "mine"), ("list open", "open"), ("list ALL", "all")],
)
def test_list_takes_a_scope_and_defaults_to_mine(text: str, scope: str) -> None:
    assert parse(text) == ListTickets(scope)


@pytest.mark.parametrize("text", ["list closed", "list open mine"])
def test_list_refuses_an_unknown_scope(text: str) -> None:
    error = usage_error(text)
    assert error.message.startswith("`list` shows `mine`, `open` or `all`, not `")
    assert error.usage == USAGE["list"]


@pytest.mark.parametrize("number", ["SUP-12", "sup-12", "12", "#12", "#SUP-12"])
def test_ticket_numbers_are_normalised(number: str) -> None:
    assert parse(f"show {number}") == ShowTicket("SUP-12")


def test_ticket_numbers_use_the_given_prefix() -> None:
    assert parse("show help-7", prefix="HELP") == ShowTicket("HELP-7")
    assert parse("show 7", prefix="HELP") == ShowTicket("HELP-7")


@pytest.mark.parametrize("number", ["abc", "SUP-0", "OPS-12", "-3", "99999999999"])
def test_a_bad_ticket_number_is_named_in_the_error(number: str) -> None:
    error = usage_error(f"show {number}")
    assert error.message == f"`{number}` is not a ticket number like `SUP-12`"
    assert error.usage == USAGE["show"]


def test_a_number_with_another_prefix_is_refused_with_the_right_example() -> None:
    error = usage_error("show SUP-12", prefix="OPS")
    assert error.message == "`SUP-12` is not a ticket number like `OPS-12`"


def test_show_needs_a_number() -> None:
    error = usage_error("show")
    assert error.message == "`show` needs a ticket number, e.g. `/ticket show SUP-12`"
    assert error.usage == "/ticket show NUMBER"


def test_show_refuses_extra_words() -> None:
    assert "takes just a ticket number" in usage_error("show 12 13").message


def test_assign_accepts_an_escaped_mention() -> None:
    assert parse("assign SUP-12 <@U0123ABC>") == AssignTicket("SUP-12", Assignee(slack_user_id="U0123ABC"))


def test_assign_accepts_an_escaped_mention_with_a_name() -> None:
    assert parse("assign 12 <@W42|alice>") == AssignTicket("SUP-12", Assignee(slack_user_id="W42"))


def test_assign_accepts_a_plain_or_linked_email() -> None:
    expected = AssignTicket("SUP-12", Assignee(email="alice@example.com"))
    assert parse("assign 12 alice@example.com") == expected
    assert parse("assign 12 <mailto:alice@example.com|alice@example.com>") == expected


@pytest.mark.parametrize(("word", "assignee"), [("me", Assignee(me=True)), ("ME", Assignee(me=True))])
def test_assign_to_me(word: str, assignee: Assignee) -> None:
    assert parse(f"assign 12 {word}") == AssignTicket("SUP-12", assignee)


@pytest.mark.parametrize("word", ["none", "nobody", "Nobody"])
def test_assign_to_nobody_unassigns(word: str) -> None:
    assert parse(f"assign 12 {word}") == AssignTicket("SUP-12", Assignee(nobody=True))


@pytest.mark.parametrize("text", ["assign", "assign SUP-12", "assign SUP-12   "])
def test_assign_needs_a_number_and_a_person(text: str) -> None:
    error = usage_error(text)
    assert error.message == (
        "`assign` needs a ticket number and a person, e.g. `/ticket assign SUP-12 @alice`"
    )
    assert error.usage == USAGE["assign"]


def test_assign_explains_an_unlinked_at_name() -> None:
    error = usage_error("assign 12 @alice")
    assert error.message.startswith("I can't tell who `@alice` is")


def test_assign_refuses_a_word_that_is_not_a_person() -> None:
    error = usage_error("assign 12 alice")
    assert error.message == "`alice` is not a person; use an @mention, an email, `me` or `nobody`"


def test_assign_takes_one_person() -> None:
    assert "takes one person" in usage_error("assign 12 <@U1> <@U2>").message


def test_assign_checks_the_number_before_the_person() -> None:
    assert usage_error("assign twelve me").message.startswith("`twelve` is not a ticket number")


def test_an_assignee_names_exactly_one_target() -> None:
    with pytest.raises(ValueError):
        Assignee()
    with pytest.raises(ValueError):
        Assignee(slack_user_id="U1", me=True)


@pytest.mark.parametrize(
    ("words", "status"),
    [
        ("open", "open"),
        ("IN_PROGRESS", "in_progress"),
        ("in progress", "in_progress"),
        ("in-progress", "in_progress"),
        ("waiting", "waiting_customer"),
        ("waiting on customer", "waiting_customer"),
        ("resolved", "resolved"),
        ("closed", "closed"),
    ],
)
def test_status_is_validated_and_normalised(words: str, status: str) -> None:
    assert parse(f"status sup-4 {words}") == SetStatus("SUP-4", status)


def test_status_refuses_an_unknown_status_and_lists_the_known_ones() -> None:
    error = usage_error("status 4 frozen")
    assert error.message == (
        "`frozen` is not a status; use one of: "
        "`open`, `in_progress`, `waiting_customer`, `resolved`, `closed`"
    )
    assert error.usage == USAGE["status"]


@pytest.mark.parametrize("text", ["status", "status 4"])
def test_status_needs_a_number_and_a_status(text: str) -> None:
    assert usage_error(text).message.startswith("`status` needs a ticket number and a status")


@pytest.mark.parametrize(("word", "priority"), [("low", "low"), ("HIGH", "high"), ("critical", "urgent")])
def test_priority_is_validated_and_normalised(word: str, priority: str) -> None:
    assert parse(f"priority 4 {word}") == SetPriority("SUP-4", priority)


def test_priority_refuses_an_unknown_priority() -> None:
    error = usage_error("priority 4 meh")
    assert error.message == "`meh` is not a priority; use one of: `low`, `medium`, `high`, `urgent`"
    assert error.usage == USAGE["priority"]


def test_priority_takes_one_word() -> None:
    assert usage_error("priority 4 very high").message.startswith("`priority` takes one word")


@pytest.mark.parametrize("text", ["priority", "priority 4"])
def test_priority_needs_a_number_and_a_priority(text: str) -> None:
    assert usage_error(text).message.startswith("`priority` needs a ticket number and a priority")


def test_comment_keeps_newlines_and_inner_spacing() -> None:
    text = "comment SUP-12   Restarted  the spooler.\n\n  - step one\n  - step two  \n"
    assert parse(text) == AddComment("SUP-12", "Restarted  the spooler.\n\n  - step one\n  - step two")


def test_comment_starting_on_the_next_line_keeps_its_indentation() -> None:
    assert parse("comment 12\n\n    code\nmore") == AddComment("SUP-12", "    code\nmore")


def test_comment_turns_slack_markup_into_plain_text() -> None:
    assert parse("comment 12 ask <@U1|ann> about a &lt;b&gt;") == AddComment("SUP-12", "ask @ann about a <b>")


@pytest.mark.parametrize("text", ["comment", "comment 12", "comment 12 \n  \n"])
def test_comment_needs_a_number_and_text(text: str) -> None:
    error = usage_error(text)
    assert error.message.startswith(
        "`comment` needs a ticket number and some text, e.g. `/ticket comment SUP-12"
    )
    assert error.usage == USAGE["comment"]


def test_comment_refuses_a_bad_number() -> None:
    assert usage_error("comment x hello").message == "`x` is not a ticket number like `SUP-12`"


def test_escalate_takes_a_reason() -> None:
    assert parse("escalate #9 CEO  cannot print") == Escalate("SUP-9", "CEO  cannot print")


@pytest.mark.parametrize("text", ["escalate", "escalate 9", "escalate 9    "])
def test_escalate_requires_a_reason(text: str) -> None:
    error = usage_error(text)
    assert error.message.startswith("`escalate` needs a ticket number and a reason")
    assert error.usage == USAGE["escalate"]


def test_an_unknown_subcommand_is_named_with_the_list_of_subcommands() -> None:
    error = usage_error("frobnicate 12")
    assert error.message == (
        "there is no `/ticket` subcommand `frobnicate`; "
        "use one of: new, list, show, assign, status, priority, comment, escalate, help"
    )
    assert error.usage == "/ticket new|list|show|assign|status|priority|comment|escalate|help"


def test_what_the_person_typed_is_escaped_and_shortened_in_messages() -> None:
    error = usage_error("<!channel>`" + "x" * 60)
    assert "<!channel>" not in error.message
    assert "`&lt;!channel&gt;'xxx" in error.message
    assert "…`" in error.message


def test_messages_use_the_configured_command_name() -> None:
    with pytest.raises(UsageError) as caught:
        parse("show", command="/helpdesk")
    assert caught.value.message == "`show` needs a ticket number, e.g. `/helpdesk show SUP-12`"
    assert caught.value.usage == "/helpdesk show NUMBER"


def test_a_usage_error_is_the_senders_fault() -> None:
    assert issubclass(UsageError, UserError)


def test_usage_has_a_line_per_subcommand() -> None:
    assert list(USAGE) == [
        "new",
        "list",
        "show",
        "assign",
        "status",
        "priority",
        "comment",
        "escalate",
        "help",
    ]
    assert all(line.startswith(f"/ticket {name}") for name, line in USAGE.items())


def test_help_text_lists_every_usage_line_as_safe_mrkdwn() -> None:
    text = help_text("/helpdesk")
    for line in USAGE.values():
        assert f"`{line.replace('/ticket', '/helpdesk')}`" in text
    assert "<" not in text and ">" not in text
