"""Block Kit for tickets, built by pure functions so the layout is tested without Slack.

Whatever people wrote is escaped for mrkdwn and clipped to Slack's limits here,
so a listener or the sender can post the result as it is. ``parse_modal`` is
the other half of ``new_ticket_modal``: it reads the submitted view back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.errors import UserError
from bot.model import FieldType, Priority, Status, parse_priority
from bot.views import CommentView, TicketDetail, TicketView
from channels.slack.commands import SUBJECT_MAX
from channels.slack.text import escape

# Slack's limits (https://api.slack.com/reference/block-kit).
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
OPTION_TEXT_MAX = 75
OPTIONS_MAX = 100
MESSAGE_BLOCKS_MAX = 50
PRIVATE_METADATA_MAX = 3000
# Ours: enough to scan in a message; the rest is one `/ticket show` away.
LIST_MAX = 20
COMMENT_MAX = 1500
LABEL_MAX = 200

_STATUS_WORDS = {
    Status.OPEN: "Open",
    Status.IN_PROGRESS: "In progress",
    Status.WAITING_CUSTOMER: "Waiting on customer",
    Status.RESOLVED: "Resolved",
    Status.CLOSED: "Closed",
}
_SLACK_ID = re.compile(r"[A-Z0-9]+")
FIELD_BLOCK = "field:"


@dataclass(frozen=True, slots=True)
class ModalInput:
    subject: str
    description: str
    priority: str
    category: str | None
    fields: dict[str, Any]


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending in "…" when something was cut."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def status_label(status: str) -> str:
    try:
        return _STATUS_WORDS[Status(status)]
    except ValueError:
        return status.replace("_", " ").capitalize()


def priority_label(priority: str) -> str:
    return priority.replace("_", " ").capitalize()


def ticket_card(
    ticket: TicketView,
    *,
    sla_due: str | None = None,
    requester_slack_id: str | None = None,
    assignee_slack_id: str | None = None,
    note_prefix: str = "note:",
    resolve_reaction: str = "white_check_mark",
    assign_reaction: str = "eyes",
) -> dict[str, Any]:
    """The root message of a ticket's thread in the support channel."""
    hint = (
        f"Reply in this thread to answer the requester · start with `{escape(note_prefix)}` to keep it "
        f"internal · :{escape(resolve_reaction)}: resolves · :{escape(assign_reaction)}: takes it"
    )
    return {
        "text": _clip(f"{ticket.number}: {_one_line(ticket.subject)}", SECTION_TEXT_MAX),
        "blocks": [
            _header(ticket),
            _fields(ticket, sla_due, requester_slack_id, assignee_slack_id),
            {"type": "context", "elements": [_mrkdwn(hint)]},
        ],
    }


def ticket_list(tickets: Sequence[TicketView], *, title: str) -> list[dict[str, Any]]:
    return _list_blocks(tickets, title, "There are no tickets here.")


def ticket_detail(
    detail: TicketDetail,
    *,
    include_internal: bool,
    last: int = 5,
    sla_due: str | None = None,
    requester_slack_id: str | None = None,
    assignee_slack_id: str | None = None,
) -> list[dict[str, Any]]:
    """A ticket with its description and latest comments; internal ones only for staff."""
    ticket = detail.ticket
    blocks = [_header(ticket), _fields(ticket, sla_due, requester_slack_id, assignee_slack_id)]
    if ticket.description.strip():
        blocks.append(_section(_clip(ticket.description.strip(), SECTION_TEXT_MAX)))
    blocks.append({"type": "divider"})
    visible = [c for c in detail.comments if c.public or include_internal]
    if not visible:
        blocks.append(_context("No comments yet."))
        return blocks
    room = MESSAGE_BLOCKS_MAX - len(blocks) - 1
    count = max(0, min(last, room))
    shown = visible[len(visible) - count :]
    if len(shown) < len(visible):
        blocks.append(_context(f"The last {len(shown)} of {len(visible)} comments"))
    blocks += [_comment(c) for c in shown]
    return blocks


def home_view(
    requested: Sequence[TicketView], assigned: Sequence[TicketView], *, show_assigned: bool = True
) -> dict[str, Any]:
    """The App Home tab; people who are not staff have nothing assigned, so they see one list."""
    blocks = _list_blocks(requested, "Your requests", "You have not asked for anything yet.")
    if show_assigned:
        blocks.append({"type": "divider"})
        blocks += _list_blocks(assigned, "Assigned to you", "Nothing is assigned to you.")
    return {"type": "home", "blocks": blocks}


def new_ticket_modal(
    *,
    categories: Sequence[str],
    fields: Sequence[Mapping[str, Any]],
    default_priority: str,
    subject: str = "",
    callback_id: str = "new_ticket",
    private_metadata: str = "",
) -> dict[str, Any]:
    """The form behind `/ticket new`; ``fields`` are definitions as ``bot.read.queries.list_fields``
    gives them."""
    if len(private_metadata) > PRIVATE_METADATA_MAX:
        raise ValueError(f"private_metadata is limited to {PRIVATE_METADATA_MAX} characters by Slack")
    subject_input: dict[str, Any] = {"type": "plain_text_input", "max_length": SUBJECT_MAX}
    if subject.strip():
        subject_input["initial_value"] = truncate(_one_line(subject), SUBJECT_MAX)
    priorities = [_option(p.value, priority_label(p.value)) for p in Priority]
    default = parse_priority(default_priority).value
    blocks = [
        _input("subject", "Subject", subject_input, optional=False),
        _input("description", "Description", {"type": "plain_text_input", "multiline": True}, optional=True),
        _input(
            "priority",
            "Priority",
            {
                "type": "static_select",
                "options": priorities,
                "initial_option": next(o for o in priorities if o["value"] == default),
            },
            optional=False,
        ),
    ]
    if categories:
        select = _select("static_select", categories, "Choose a category")
        blocks.append(_input("category", "Category", select, optional=True))
    for definition in fields:
        element = _field_element(FieldType(str(definition["type"])), definition.get("options") or {})
        block_id = f"{FIELD_BLOCK}{definition['key']}"
        label = str(definition.get("label") or definition["key"])
        blocks.append(_input(block_id, label, element, optional=not definition.get("required")))
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": private_metadata,
        "title": _plain("New ticket"),
        "submit": _plain("Open ticket"),
        "close": _plain("Cancel"),
        "blocks": blocks,
    }


def parse_modal(values: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> ModalInput:
    """Read ``view["state"]["values"]`` of a submitted :func:`new_ticket_modal`."""
    subject = " ".join(str(_value(values, "subject") or "").split())
    if not subject:
        raise UserError("Give the ticket a subject.", field="subject")
    priority = _value(values, "priority")
    if priority is None:
        raise UserError("Choose a priority.", field="priority")
    custom: dict[str, Any] = {}
    for block_id in values:
        if block_id.startswith(FIELD_BLOCK):
            key = block_id.removeprefix(FIELD_BLOCK)
            value = _value(values, block_id)
            if value is not None:
                custom[key] = value
    return ModalInput(
        subject=subject,
        description=str(_value(values, "description") or "").strip(),
        priority=parse_priority(str(priority)).value,
        category=_value(values, "category"),
        fields=custom,
    )


def _field_element(kind: FieldType, options: Mapping[str, Any]) -> dict[str, Any]:
    if kind is FieldType.TEXT:
        element: dict[str, Any] = {"type": "plain_text_input"}
        if options.get("max_length") is not None:
            element["max_length"] = min(int(options["max_length"]), SECTION_TEXT_MAX)
        return element
    if kind is FieldType.NUMBER:
        element = {"type": "number_input", "is_decimal_allowed": True}
        for bound in ("min", "max"):
            if options.get(bound) is not None:
                element[f"{bound}_value"] = str(options[bound])
        return element
    if kind is FieldType.DATE:
        return {"type": "datepicker"}
    kind_name = "static_select" if kind is FieldType.DROPDOWN else "multi_static_select"
    return _select(kind_name, options.get("choices", []), "Choose")


def _value(values: Mapping[str, Mapping[str, Mapping[str, Any]]], block_id: str) -> Any:
    """One input's value as Slack sends it, or None when it was left empty."""
    state = values.get(block_id, {}).get("value")
    if state is None:
        return None
    kind = state.get("type")
    if kind == "plain_text_input":
        text = state.get("value")
        return text if text and text.strip() else None
    if kind == "number_input":
        text = state.get("value")
        return _number(block_id, text) if text and text.strip() else None
    if kind == "static_select":
        option = state.get("selected_option")
        return option["value"] if option else None
    if kind == "multi_static_select":
        return [o["value"] for o in state.get("selected_options") or []] or None
    if kind == "datepicker":
        return state.get("selected_date") or None
    raise ValueError(f"{block_id}: a {kind!r} element is not part of the new-ticket modal")


def _number(block_id: str, text: str) -> int | float:
    key = block_id.removeprefix(FIELD_BLOCK)
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise UserError(f"{key}: {text!r} is not a number", field=key)
    return number


def _list_blocks(tickets: Sequence[TicketView], title: str, empty: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(truncate(title, HEADER_TEXT_MAX), emoji=True)}
    ]
    if not tickets:
        return [*blocks, _section(escape(empty))]
    blocks += [_ticket_line(t) for t in tickets[:LIST_MAX]]
    if len(tickets) > LIST_MAX:
        blocks.append(_context(f"…and {len(tickets) - LIST_MAX} more"))
    return blocks


def _ticket_line(ticket: TicketView) -> dict[str, Any]:
    assignee = _clip(ticket.assignee, LABEL_MAX) if ticket.assignee else "Unassigned"
    return _section(
        f"*{escape(ticket.number)}*  {_clip(_one_line(ticket.subject), SUBJECT_MAX)}\n"
        f"{status_label(ticket.status)} · {priority_label(ticket.priority)} · {assignee}"
    )


def _header(ticket: TicketView) -> dict[str, Any]:
    text = truncate(f"{ticket.number}: {_one_line(ticket.subject)}", HEADER_TEXT_MAX)
    return {"type": "header", "text": _plain(text, emoji=True)}


def _fields(
    ticket: TicketView, sla_due: str | None, requester_slack_id: str | None, assignee_slack_id: str | None
) -> dict[str, Any]:
    assignee = _person(ticket.assignee, assignee_slack_id) if ticket.assignee else "Unassigned"
    pairs = [
        ("Requester", _person(ticket.requester, requester_slack_id)),
        ("Priority", priority_label(ticket.priority)),
        ("Status", status_label(ticket.status)),
        ("Assignee", assignee),
    ]
    if ticket.category:
        pairs.append(("Category", _clip(ticket.category, LABEL_MAX)))
    pairs.append(("SLA due", _clip(sla_due, LABEL_MAX) if sla_due else "—"))
    return {"type": "section", "fields": [_mrkdwn(f"*{name}*\n{value}") for name, value in pairs]}


def _comment(comment: CommentView) -> dict[str, Any]:
    meta = [f"*{_clip(comment.author or 'System', LABEL_MAX)}*", _date(comment.created_at)]
    if not comment.public:
        meta.append(":lock: internal")
    if comment.flagged:
        meta.append(":warning: flagged")
    return _section(" · ".join(meta) + "\n" + _clip(comment.body.strip(), COMMENT_MAX))


def _person(label: str, slack_id: str | None) -> str:
    if slack_id and _SLACK_ID.fullmatch(slack_id):
        return f"<@{slack_id}>"
    return _clip(label, LABEL_MAX)


def _date(moment: datetime) -> str:
    """Shown in each reader's own time zone; the fallback is UTC."""
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _clip(text: str, limit: int) -> str:
    """Escape, then cut to ``limit`` without splitting an ``&amp;``-style entity."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": _plain(truncate(label, FIELD_TEXT_MAX)),
        "element": {**element, "action_id": "value"},
        "optional": optional,
    }


def _select(kind: str, values: Sequence[str], placeholder: str) -> dict[str, Any]:
    """A select over ``values``; Slack takes at most 100 options, so the first 100 are kept."""
    options = [_option(value, value) for value in values[:OPTIONS_MAX]]
    return {"type": kind, "placeholder": _plain(placeholder), "options": options}


def _option(value: str, label: str) -> dict[str, Any]:
    return {"text": _plain(truncate(label, OPTION_TEXT_MAX)), "value": value}


def _plain(text: str, *, emoji: bool = False) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text", "text": text}
    if emoji:
        element["emoji"] = True
    return element


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(escape(text))]}
