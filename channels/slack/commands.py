"""The grammar of the `/ticket` slash command, apart from Slack so every mistake is testable as text.

``parse`` turns what a person typed into one small command object that a
listener maps to a desk call. A mistake raises :class:`UsageError` whose
message is one line of mrkdwn (what they typed is escaped) and whose ``usage``
is the subcommand's usage line, ready for an ephemeral reply.

Slack sends the text with ``&``, ``<`` and ``>`` escaped and with mentions as
``<@U123|alice>``; free text (a subject, a comment, a reason) comes back as
plain text (``@alice``, ``<``), the way it is stored and emailed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from bot.errors import UserError
from bot.model import Priority, Status, format_number, parse_number, parse_priority, parse_status
from channels.slack.text import to_plain

SCOPES = ("mine", "open", "all")
# The longest subject the slash command and the new-ticket modal accept.
SUBJECT_MAX = 250

# Arguments of each subcommand, in the order help lists them; no angle brackets so they are mrkdwn-safe.
_ARGS = {
    "new": "new [subject]",
    "list": "list [mine|open|all]",
    "show": "show NUMBER",
    "assign": "assign NUMBER @person|email|me|nobody",
    "status": f"status NUMBER {'|'.join(Status)}",
    "priority": f"priority NUMBER {'|'.join(Priority)}",
    "comment": "comment NUMBER text",
    "escalate": "escalate NUMBER reason",
    "help": "help",
}
_SUMMARY = {
    "new": "open a ticket; without a subject a form opens",
    "list": "your requests (mine), every open ticket, or all tickets",
    "show": "a ticket's details and latest comments",
    "assign": "give a ticket to someone, to yourself, or to nobody",
    "status": "move a ticket along",
    "priority": "change how urgent a ticket is",
    "comment": "add a comment; line breaks are kept",
    "escalate": "raise a ticket to the next level, saying why",
    "help": "this list",
}
# What each subcommand needs and an example of it, after the ticket number.
_NEEDS = {
    "show": ("a ticket number", ""),
    "assign": ("a ticket number and a person", " @alice"),
    "status": ("a ticket number and a status", " in_progress"),
    "priority": ("a ticket number and a priority", " high"),
    "comment": ("a ticket number and some text", " Restarted the print spooler"),
    "escalate": ("a ticket number and a reason", " The CEO cannot print"),
}
# Words people use for a status other than its stored name.
_STATUS_ALIASES = {"waiting": Status.WAITING_CUSTOMER, "waiting_on_customer": Status.WAITING_CUSTOMER}

USAGE: dict[str, str] = {name: f"/ticket {args}" for name, args in _ARGS.items()}

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_MAILTO = re.compile(r"<mailto:([^|>]+)(?:\|[^>]*)?>")
_EMAIL = re.compile(r"[^@\s<>|]+@[^@\s<>|]+\.[^@\s<>|]+")


class UsageError(UserError):
    """The slash command was typed wrong; ``message`` says how, ``usage`` shows the right form."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True, slots=True)
class Assignee:
    """Exactly one of: a Slack user, an email, the person typing (``me``), or nobody."""

    slack_user_id: str | None = None
    email: str | None = None
    me: bool = False
    nobody: bool = False

    def __post_init__(self) -> None:
        chosen = (self.slack_user_id is not None, self.email is not None, self.me, self.nobody)
        if sum(chosen) != 1:
            raise ValueError("an Assignee names exactly one of slack_user_id, email, me or nobody")


@dataclass(frozen=True, slots=True)
class NewTicket:
    subject: str


@dataclass(frozen=True, slots=True)
class NewTicketModal:
    pass


@dataclass(frozen=True, slots=True)
class ListTickets:
    scope: str = "mine"


@dataclass(frozen=True, slots=True)
class ShowTicket:
    number: str


@dataclass(frozen=True, slots=True)
class AssignTicket:
    number: str
    assignee: Assignee


@dataclass(frozen=True, slots=True)
class SetStatus:
    number: str
    status: str


@dataclass(frozen=True, slots=True)
class SetPriority:
    number: str
    priority: str


@dataclass(frozen=True, slots=True)
class AddComment:
    number: str
    text: str


@dataclass(frozen=True, slots=True)
class Escalate:
    number: str
    reason: str


@dataclass(frozen=True, slots=True)
class Help:
    pass


Command: TypeAlias = (
    NewTicket
    | NewTicketModal
    | ListTickets
    | ShowTicket
    | AssignTicket
    | SetStatus
    | SetPriority
    | AddComment
    | Escalate
    | Help
)


def parse(text: str, prefix: str = "SUP", *, command: str = "/ticket") -> Command:
    """Read the slash command's text; ``command`` is its configured name, used in messages."""
    name, rest = _split(text)
    if not name:
        return Help()
    key = name.lower()
    if key not in _ARGS:
        raise UsageError(
            f"there is no `{_escape(command)}` subcommand {_code(name)}; use one of: {', '.join(_ARGS)}",
            f"{command} {'|'.join(_ARGS)}",
        )
    return _HANDLERS[key](_Context(key, prefix, command), rest)


def help_text(command: str = "/ticket") -> str:
    """Every subcommand's usage line with a few words on it, as mrkdwn."""
    lines = [f"*How to use `{_escape(command)}`*"]
    lines += [f"• `{_escape(command)} {_ARGS[name]}`: {_SUMMARY[name]}" for name in _ARGS]
    lines.append("A ticket NUMBER may be written with or without its prefix, or as `#12`.")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class _Context:
    name: str
    prefix: str
    command: str

    def fail(self, message: str) -> UsageError:
        return UsageError(message, f"{self.command} {_ARGS[self.name]}")

    def example(self, args: str) -> str:
        return f"`{_escape(self.command)} {self.name} {_escape(args)}`"

    def missing(self) -> UsageError:
        what, tail = _NEEDS[self.name]
        return self.fail(f"`{self.name}` needs {what}, e.g. {self.example(f'{self.prefix}-12{tail}')}")

    def number(self, token: str) -> str:
        try:
            ticket_id = parse_number(self.prefix, token.removeprefix("#"))
        except UserError:
            raise self.fail(
                f"{_code(token)} is not a ticket number like `{_escape(self.prefix)}-12`"
            ) from None
        return format_number(self.prefix, ticket_id)


def _new(ctx: _Context, rest: str) -> NewTicket | NewTicketModal:
    subject = " ".join(to_plain(rest).split())
    if not subject:
        return NewTicketModal()
    if len(subject) > SUBJECT_MAX:
        raise ctx.fail(
            f"the subject has {len(subject)} characters, more than {SUBJECT_MAX}; "
            f"shorten it, or use `{_escape(ctx.command)} new` for a form with room for details"
        )
    return NewTicket(subject)


def _list(ctx: _Context, rest: str) -> ListTickets:
    words = rest.split()
    if not words:
        return ListTickets("mine")
    scope = words[0].lower()
    if len(words) > 1 or scope not in SCOPES:
        raise ctx.fail(f"`list` shows `mine`, `open` or `all`, not {_code(rest.strip())}")
    return ListTickets(scope)


def _show(ctx: _Context, rest: str) -> ShowTicket:
    words = rest.split()
    if not words:
        raise ctx.missing()
    if len(words) > 1:
        raise ctx.fail(f"`show` takes just a ticket number, e.g. {ctx.example(f'{ctx.prefix}-12')}")
    return ShowTicket(ctx.number(words[0]))


def _assign(ctx: _Context, rest: str) -> AssignTicket:
    token, person = _split(rest)
    person = person.strip()
    if not token or not person:
        raise ctx.missing()
    number = ctx.number(token)
    return AssignTicket(number, _assignee(ctx, person))


def _assignee(ctx: _Context, person: str) -> Assignee:
    if mention := _MENTION.fullmatch(person):
        return Assignee(slack_user_id=mention.group(1))
    if mailto := _MAILTO.fullmatch(person):
        person = mailto.group(1)
    word = person.lower()
    if word == "me":
        return Assignee(me=True)
    if word in ("none", "nobody"):
        return Assignee(nobody=True)
    if _EMAIL.fullmatch(person):
        return Assignee(email=person)
    if len(person.split()) > 1:
        raise ctx.fail(f"`assign` takes one person, e.g. {ctx.example(f'{ctx.prefix}-12 @alice')}")
    if person.startswith("@"):
        raise ctx.fail(
            f"I can't tell who {_code(person)} is: pick them from Slack's @ list so the name "
            "becomes a mention, or give their email"
        )
    raise ctx.fail(f"{_code(person)} is not a person; use an @mention, an email, `me` or `nobody`")


def _status(ctx: _Context, rest: str) -> SetStatus:
    token, value = _split(rest)
    if not token or not value.strip():
        raise ctx.missing()
    number = ctx.number(token)
    key = "_".join(value.replace("-", " ").lower().split())
    try:
        status = _STATUS_ALIASES.get(key) or parse_status(key)
    except UserError:
        names = ", ".join(f"`{s}`" for s in Status)
        raise ctx.fail(f"{_code(value.strip())} is not a status; use one of: {names}") from None
    return SetStatus(number, status.value)


def _priority(ctx: _Context, rest: str) -> SetPriority:
    words = rest.split()
    if len(words) < 2:
        raise ctx.missing()
    number = ctx.number(words[0])
    names = ", ".join(f"`{p}`" for p in Priority)
    if len(words) > 2:
        raise ctx.fail(f"`priority` takes one word, one of: {names}")
    try:
        priority = parse_priority(words[1])
    except UserError:
        raise ctx.fail(f"{_code(words[1])} is not a priority; use one of: {names}") from None
    return SetPriority(number, priority.value)


def _with_text(ctx: _Context, rest: str) -> AddComment | Escalate:
    token, tail = _split(rest)
    text = to_plain(_verbatim(tail))
    if not token or not text.strip():
        raise ctx.missing()
    number = ctx.number(token)
    return AddComment(number, text) if ctx.name == "comment" else Escalate(number, text)


_HANDLERS: dict[str, Callable[[_Context, str], Command]] = {
    "new": _new,
    "list": _list,
    "show": _show,
    "assign": _assign,
    "status": _status,
    "priority": _priority,
    "comment": _with_text,
    "escalate": _with_text,
    "help": lambda ctx, rest: Help(),
}


def _split(text: str) -> tuple[str, str]:
    """The first word and everything after it, untouched."""
    match = re.match(r"\s*(\S*)(.*)\Z", text, re.DOTALL)
    assert match is not None  # the pattern matches any string
    return match.group(1), match.group(2)


def _verbatim(rest: str) -> str:
    """Free text after a word: drop the separator and blank leading lines, keep inner spacing."""
    head, newline, tail = rest.partition("\n")
    if head.strip():
        return (head.lstrip() + newline + tail).rstrip()
    return re.sub(r"\A(?:[ \t\r]*\n)+", "", tail).rstrip()


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(token: str) -> str:
    """What the person typed, quoted for a mrkdwn reply: short, escaped and without backticks."""
    text = _unescape(token).replace("`", "'")
    if len(text) > 40:
        text = text[:39] + "…"
    return f"`{_escape(text)}`"
