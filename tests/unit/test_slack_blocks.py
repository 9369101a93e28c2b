from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.errors import UserError
from bot.views import CommentView, TicketDetail, TicketView
from channels.slack.blocks import (
    ModalInput,
    escape,
    home_view,
    new_ticket_modal,
    parse_modal,
    ticket_card,
    ticket_detail,
    ticket_list,
    truncate,
)

WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

FIELDS: list[dict[str, Any]] = [
    {"key": "asset", "label": "Asset tag", "type": "text", "required": True, "options": {"max_length": 12}},
    {"key": "seats", "label": "Seats", "type": "number", "required": False, "options": {"min": 1, "max": 50}},
    {
        "key": "os",
        "label": "OS",
        "type": "dropdown",
        "required": False,
        "options": {"choices": ["mac", "linux"]},
    },
    {
        "key": "apps",
        "label": "Apps",
        "type": "multiple_choice",
        "required": False,
        "options": {"choices": ["mail", "chat", "wiki"]},
    },
    {"key": "due", "label": "Needed by", "type": "date", "required": False, "options": None},
]


def make_ticket(**overrides: Any) -> TicketView:
    values: dict[str, Any] = {
        "id": 12,
        "number": "SUP-12",
        "subject": "Printer on fire",
        "description": "It smells of toner.",
        "status": "in_progress",
        "priority": "high",
        "channel": "slack",
        "requester": "ann@example.com",
        "assignee": "bob@example.com",
        "team": None,
        "category": "Hardware/Printers",
        "tags": (),
        "custom_fields": {},
        "merged_into": None,
        "created_at": WHEN,
        "updated_at": WHEN,
    }
    return TicketView(**(values | overrides))


def make_comment(id: int, body: str, **overrides: Any) -> CommentView:
    values: dict[str, Any] = {
        "id": id,
        "ticket_number": "SUP-1",
        "author": "bob@example.com",
        "body": body,
        "public": True,
        "flagged": False,
        "channel": "slack",
        "created_at": WHEN,
    }
    return CommentView(**(values | overrides))


def field_texts(section: dict[str, Any]) -> dict[str, str]:
    return dict(f["text"].split("\n", 1) for f in section["fields"])


def all_text(blocks: list[dict[str, Any]]) -> str:
    return repr(blocks)


def submit(view: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    """``view.state.values`` as Slack sends it: every input, its initial value unless answered."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        element = block["element"]
        kind = element["type"]
        answer = answers.get(block["block_id"])
        state: dict[str, Any] = {"type": kind}
        if kind in ("plain_text_input", "number_input"):
            state["value"] = answer if answer is not None else element.get("initial_value")
        elif kind == "static_select":
            options = {o["value"]: o for o in element["options"]}
            state["selected_option"] = (
                options[answer] if answer is not None else element.get("initial_option")
            )
        elif kind == "multi_static_select":
            options = {o["value"]: o for o in element["options"]}
            state["selected_options"] = [options[a] for a in answer or []]
        elif kind == "datepicker":
            state["selected_date"] = answer
        values[block["block_id"]] = {element["action_id"]: state}
    return values


def modal(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "categories": ["Hardware", "Hardware/Printers"],
        "fields": FIELDS,
        "default_priority": "medium",
    }
    return new_ticket_modal(**(arguments | overrides))


def block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


# escape and truncate


def test_escape_replaces_the_three_mrkdwn_control_characters() -> None:
    assert escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"


def test_escape_leaves_other_text_alone() -> None:
    assert escape("*bold* _it_ ~x~ `code`") == "*bold* _it_ ~x~ `code`"


def test_truncate_keeps_short_text() -> None:
    assert truncate("abc", 3) == "abc"


def test_truncate_cuts_to_the_limit_with_an_ellipsis() -> None:
    assert truncate("abcdef", 4) == "abc…"
    assert len(truncate("x" * 5000, 3000)) == 3000


def test_truncate_refuses_a_limit_below_one() -> None:
    with pytest.raises(ValueError):
        truncate("abc", 0)


# ticket_card


def test_card_has_fallback_text_and_a_header_with_number_and_subject() -> None:
    card = ticket_card(make_ticket())
    assert card["text"] == "SUP-12: Printer on fire"
    assert card["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "SUP-12: Printer on fire", "emoji": True},
    }


def test_card_fields_use_human_words() -> None:
    fields = field_texts(ticket_card(make_ticket(), sla_due="Tue 14:00")["blocks"][1])
    assert fields == {
        "*Requester*": "ann@example.com",
        "*Priority*": "High",
        "*Status*": "In progress",
        "*Assignee*": "bob@example.com",
        "*Category*": "Hardware/Printers",
        "*SLA due*": "Tue 14:00",
    }


def test_card_says_waiting_on_customer() -> None:
    fields = field_texts(ticket_card(make_ticket(status="waiting_customer"))["blocks"][1])
    assert fields["*Status*"] == "Waiting on customer"


def test_card_mentions_people_with_a_slack_id() -> None:
    card = ticket_card(make_ticket(), requester_slack_id="U111", assignee_slack_id="U222")
    fields = field_texts(card["blocks"][1])
    assert fields["*Requester*"] == "<@U111>"
    assert fields["*Assignee*"] == "<@U222>"


def test_card_does_not_trust_a_malformed_slack_id() -> None:
    fields = field_texts(ticket_card(make_ticket(), requester_slack_id="U1> <!channel")["blocks"][1])
    assert fields["*Requester*"] == "ann@example.com"


def test_card_shows_unassigned_no_category_and_no_sla() -> None:
    fields = field_texts(ticket_card(make_ticket(assignee=None, category=None))["blocks"][1])
    assert fields["*Assignee*"] == "Unassigned"
    assert "*Category*" not in fields
    assert fields["*SLA due*"] == "—"


def test_card_escapes_what_people_wrote() -> None:
    card = ticket_card(make_ticket(subject="<!channel> R&D", requester="<@U9>"))
    assert card["text"] == "SUP-12: &lt;!channel&gt; R&amp;D"
    assert field_texts(card["blocks"][1])["*Requester*"] == "&lt;@U9&gt;"
    # plain_text is shown as is, so the header is not escaped
    assert card["blocks"][0]["text"]["text"] == "SUP-12: <!channel> R&D"


def test_card_header_fits_slacks_limit() -> None:
    header = ticket_card(make_ticket(subject="word " * 100))["blocks"][0]["text"]["text"]
    assert len(header) == 150
    assert header.endswith("…")


def test_card_hint_has_the_default_prefix_and_reactions() -> None:
    hint = ticket_card(make_ticket())["blocks"][-1]
    assert hint == {
        "type": "context",
        "elements": [
            {
                "type": "mrkdwn",
                "text": "Reply in this thread to answer the requester"
                " · start with `note:` to keep it internal"
                " · :white_check_mark: resolves · :eyes: takes it",
            }
        ],
    }


def test_card_hint_follows_the_configured_prefix_and_reactions() -> None:
    card = ticket_card(
        make_ticket(), note_prefix="#private", resolve_reaction="heavy_check_mark", assign_reaction="hand"
    )
    text = card["blocks"][-1]["elements"][0]["text"]
    assert "`#private`" in text and ":heavy_check_mark: resolves" in text and ":hand: takes it" in text


# ticket_list


def test_list_has_a_section_per_ticket() -> None:
    tickets = [make_ticket(), make_ticket(number="SUP-13", subject="VPN", status="open", assignee=None)]
    blocks = ticket_list(tickets, title="Open tickets")
    assert blocks[0]["text"]["text"] == "Open tickets"
    assert [b["text"]["text"] for b in blocks[1:]] == [
        "*SUP-12*  Printer on fire\nIn progress · High · bob@example.com",
        "*SUP-13*  VPN\nOpen · High · Unassigned",
    ]


def test_list_shows_twenty_and_says_how_many_more() -> None:
    tickets = [make_ticket(number=f"SUP-{n}") for n in range(1, 26)]
    blocks = ticket_list(tickets, title="All")
    sections = [b for b in blocks if b["type"] == "section"]
    assert len(sections) == 20
    assert blocks[-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": "…and 5 more"}]}


def test_list_of_exactly_twenty_has_no_more_note() -> None:
    blocks = ticket_list([make_ticket()] * 20, title="All")
    assert blocks[-1]["type"] == "section"


def test_an_empty_list_says_there_are_none() -> None:
    blocks = ticket_list([], title="Mine")
    sections = [b for b in blocks if b["type"] == "section"]
    assert len(sections) == 1
    assert "no tickets" in sections[0]["text"]["text"]


def test_list_escapes_subjects_and_assignees() -> None:
    blocks = ticket_list([make_ticket(subject="a<b", assignee="x&y")], title="T")
    assert blocks[1]["text"]["text"] == "*SUP-12*  a&lt;b\nIn progress · High · x&amp;y"


# ticket_detail


def detail(*comments: CommentView, **overrides: Any) -> TicketDetail:
    return TicketDetail(ticket=make_ticket(**overrides), comments=comments, events=())


def comment_blocks(blocks: list[dict[str, Any]]) -> list[str]:
    after = blocks[[b["type"] for b in blocks].index("divider") + 1 :]
    return [b["text"]["text"] for b in after if b["type"] == "section"]


def test_detail_has_the_card_fields_and_the_description() -> None:
    blocks = ticket_detail(detail(), include_internal=False, sla_due="soon")
    assert blocks[0]["text"]["text"] == "SUP-12: Printer on fire"
    assert field_texts(blocks[1])["*SLA due*"] == "soon"
    assert blocks[2]["text"]["text"] == "It smells of toner."


def test_detail_without_comments_says_so() -> None:
    blocks = ticket_detail(detail(), include_internal=True)
    assert blocks[-1]["elements"][0]["text"] == "No comments yet."


def test_detail_shows_the_last_comments_oldest_first() -> None:
    comments = [make_comment(n, f"comment {n}") for n in range(1, 8)]
    blocks = ticket_detail(detail(*comments), include_internal=False)
    texts = comment_blocks(blocks)
    assert [t.rsplit("\n", 1)[1] for t in texts] == [f"comment {n}" for n in range(3, 8)]
    assert any(b["type"] == "context" and "last 5 of 7" in b["elements"][0]["text"] for b in blocks)


def test_detail_shows_a_dated_author_line() -> None:
    texts = comment_blocks(ticket_detail(detail(make_comment(1, "hi")), include_internal=False))
    assert texts == [
        "*bob@example.com* · <!date^1772443800^{date_short_pretty} {time}|2026-03-02 09:30 UTC>\nhi"
    ]


def test_detail_hides_internal_comments_from_requesters() -> None:
    comments = [make_comment(1, "public"), make_comment(2, "secret", public=False)]
    texts = comment_blocks(ticket_detail(detail(*comments), include_internal=False))
    assert len(texts) == 1 and texts[0].endswith("public")


def test_detail_marks_internal_and_flagged_comments_for_staff() -> None:
    comments = [make_comment(1, "note", public=False), make_comment(2, "odd", public=False, flagged=True)]
    texts = comment_blocks(ticket_detail(detail(*comments), include_internal=True))
    assert ":lock: internal" in texts[0] and ":warning: flagged" not in texts[0]
    assert ":lock: internal" in texts[1] and ":warning: flagged" in texts[1]


def test_detail_counts_only_comments_the_reader_may_see() -> None:
    comments = [make_comment(n, "x", public=n % 2 == 0) for n in range(1, 11)]
    blocks = ticket_detail(detail(*comments), include_internal=False, last=5)
    assert len(comment_blocks(blocks)) == 5
    assert not any(b["type"] == "context" for b in blocks)


def test_detail_truncates_and_escapes_each_comment() -> None:
    blocks = ticket_detail(detail(make_comment(1, "<b>" + "y" * 5000)), include_internal=False)
    body = comment_blocks(blocks)[0].split("\n", 1)[1]
    assert body.startswith("&lt;b&gt;yyy") and body.endswith("…")
    assert len(body) <= 1500


def test_detail_never_cuts_an_escaped_character_in_half() -> None:
    blocks = ticket_detail(detail(make_comment(1, "&" * 2000)), include_internal=False)
    body = comment_blocks(blocks)[0].split("\n", 1)[1]
    assert body.removesuffix("…").replace("&amp;", "") == ""


def test_detail_stays_within_fifty_blocks() -> None:
    comments = [make_comment(n, "x") for n in range(100)]
    blocks = ticket_detail(detail(*comments), include_internal=True, last=100)
    assert len(blocks) == 50


def test_detail_with_last_zero_shows_no_comments() -> None:
    blocks = ticket_detail(detail(make_comment(1, "x")), include_internal=True, last=0)
    assert comment_blocks(blocks) == []


def test_detail_leaves_out_an_empty_description() -> None:
    blocks = ticket_detail(detail(description="  "), include_internal=False)
    assert blocks[2] == {"type": "divider"}


# home_view


def test_home_has_your_requests_and_assigned_to_you() -> None:
    view = home_view([make_ticket()], [make_ticket(number="SUP-2")])
    assert view["type"] == "home"
    headers = [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]
    assert headers == ["Your requests", "Assigned to you"]
    assert "*SUP-2*" in all_text(view["blocks"])


def test_home_leaves_out_assigned_for_people_who_are_not_staff() -> None:
    view = home_view([make_ticket()], [], show_assigned=False)
    headers = [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]
    assert headers == ["Your requests"]


def test_home_says_when_a_list_is_empty() -> None:
    sections = [b["text"]["text"] for b in home_view([], [])["blocks"] if b["type"] == "section"]
    assert sections == ["You have not asked for anything yet.", "Nothing is assigned to you."]


# new_ticket_modal and parse_modal


def test_modal_is_a_modal_with_callback_and_metadata() -> None:
    view = modal(callback_id="open", private_metadata="C1:123.45")
    assert view["type"] == "modal"
    assert view["callback_id"] == "open"
    assert view["private_metadata"] == "C1:123.45"
    assert len(view["title"]["text"]) <= 24


def test_modal_refuses_metadata_slack_would_reject() -> None:
    with pytest.raises(ValueError):
        modal(private_metadata="x" * 3001)


def test_modal_blocks_have_the_expected_ids_and_action_ids() -> None:
    view = modal()
    assert [b["block_id"] for b in view["blocks"]] == [
        "subject",
        "description",
        "priority",
        "category",
        "field:asset",
        "field:seats",
        "field:os",
        "field:apps",
        "field:due",
    ]
    assert {b["element"]["action_id"] for b in view["blocks"]} == {"value"}


def test_modal_subject_is_required_and_limited() -> None:
    subject = block(modal(), "subject")
    assert subject["optional"] is False
    assert subject["element"] == {"type": "plain_text_input", "max_length": 250, "action_id": "value"}


def test_modal_prefills_a_subject_within_the_limit() -> None:
    element = block(modal(subject="Printer\non fire"), "subject")["element"]
    assert element["initial_value"] == "Printer on fire"
    assert len(block(modal(subject="x" * 400), "subject")["element"]["initial_value"]) == 250


def test_modal_description_is_optional_and_multiline() -> None:
    description = block(modal(), "description")
    assert description["optional"] is True
    assert description["element"]["multiline"] is True


def test_modal_priority_offers_four_and_starts_at_the_default() -> None:
    element = block(modal(default_priority="High"), "priority")["element"]
    assert [o["value"] for o in element["options"]] == ["low", "medium", "high", "urgent"]
    assert element["initial_option"] == {"text": {"type": "plain_text", "text": "High"}, "value": "high"}


def test_modal_category_is_optional_and_omitted_without_categories() -> None:
    category = block(modal(), "category")
    assert category["optional"] is True
    assert [o["value"] for o in category["element"]["options"]] == ["Hardware", "Hardware/Printers"]
    assert "category" not in [b["block_id"] for b in modal(categories=[])["blocks"]]


def test_modal_keeps_the_first_hundred_options_with_short_labels() -> None:
    categories = [f"{n:03d} " + "c" * 100 for n in range(150)]
    options = block(modal(categories=categories), "category")["element"]["options"]
    assert len(options) == 100
    assert options[0]["value"] == categories[0]
    assert len(options[0]["text"]["text"]) == 75


def test_modal_custom_fields_use_the_element_for_their_type() -> None:
    view = modal()
    assert block(view, "field:asset")["element"] == {
        "type": "plain_text_input",
        "max_length": 12,
        "action_id": "value",
    }
    assert block(view, "field:seats")["element"] == {
        "type": "number_input",
        "is_decimal_allowed": True,
        "min_value": "1",
        "max_value": "50",
        "action_id": "value",
    }
    assert block(view, "field:os")["element"]["type"] == "static_select"
    assert [o["value"] for o in block(view, "field:apps")["element"]["options"]] == ["mail", "chat", "wiki"]
    assert block(view, "field:apps")["element"]["type"] == "multi_static_select"
    assert block(view, "field:due")["element"] == {"type": "datepicker", "action_id": "value"}


def test_modal_custom_fields_are_optional_unless_required() -> None:
    view = modal()
    assert block(view, "field:asset")["optional"] is False
    assert block(view, "field:seats")["optional"] is True
    assert block(view, "field:asset")["label"]["text"] == "Asset tag"


def test_modal_round_trip_with_every_field_type() -> None:
    view = modal()
    answers = {
        "subject": "  Printer   on fire ",
        "description": "Smoke everywhere.\n",
        "priority": "urgent",
        "category": "Hardware/Printers",
        "field:asset": "LAP-1",
        "field:seats": "3",
        "field:os": "linux",
        "field:apps": ["wiki", "mail"],
        "field:due": "2026-04-01",
    }
    assert parse_modal(submit(view, answers)) == ModalInput(
        subject="Printer on fire",
        description="Smoke everywhere.",
        priority="urgent",
        category="Hardware/Printers",
        fields={"asset": "LAP-1", "seats": 3, "os": "linux", "apps": ["wiki", "mail"], "due": "2026-04-01"},
    )


def test_modal_round_trip_reads_a_decimal_number_as_float() -> None:
    result = parse_modal(submit(modal(), {"subject": "s", "field:seats": "2.5"}))
    assert result.fields["seats"] == 2.5


def test_modal_round_trip_leaves_empty_optional_values_out() -> None:
    values = submit(modal(), {"subject": "Only a subject", "field:asset": "  "})
    result = parse_modal(values)
    assert result == ModalInput(
        subject="Only a subject", description="", priority="medium", category=None, fields={}
    )


def test_modal_round_trip_keeps_the_prefilled_subject() -> None:
    assert parse_modal(submit(modal(subject="From a message"), {})).subject == "From a message"


@pytest.mark.parametrize("subject", [None, "", "   "])
def test_a_blank_subject_is_the_senders_mistake(subject: str | None) -> None:
    values = submit(modal(), {})
    values["subject"]["value"]["value"] = subject
    with pytest.raises(UserError) as caught:
        parse_modal(values)
    assert caught.value.field == "subject"


def test_a_number_slack_did_not_check_is_refused_for_its_field() -> None:
    values = submit(modal(), {"subject": "s", "field:seats": "lots"})
    with pytest.raises(UserError) as caught:
        parse_modal(values)
    assert caught.value.field == "seats"


def test_parse_modal_refuses_an_element_it_never_built() -> None:
    values = submit(modal(), {"subject": "s"})
    values["field:odd"] = {"value": {"type": "checkboxes", "selected_options": []}}
    with pytest.raises(ValueError):
        parse_modal(values)


def test_parse_modal_normalises_the_priority() -> None:
    values = submit(modal(), {"subject": "s"})
    values["priority"]["value"]["selected_option"] = {"value": "critical"}
    assert parse_modal(values).priority == "urgent"


def test_a_field_with_no_label_is_labelled_by_its_key() -> None:
    view = modal(fields=[{"key": "ref", "label": "", "type": "text", "required": False, "options": {}}])
    assert parse_modal(submit(view, {"subject": "s", "field:ref": "R1"})).fields == {"ref": "R1"}
    assert block(view, "field:ref")["label"]["text"] == "ref"
