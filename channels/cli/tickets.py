"""``supportbot tickets ...``: list, show, create and work tickets from the terminal."""

from __future__ import annotations

import click

from bot.messages import Identity, Inbound
from bot.model import Actor, format_number, parse_number, parse_priority, parse_status
from bot.read.queries import TicketFilter
from bot.tickets.classify import TicketChanges
from bot.views import TicketDetail, TicketView, to_jsonable
from channels.cli.context import CliState, as_option, emit_json, emit_table, format_option, pass_state
from channels.cli.terminal import echo

LIST_COLUMNS = ("number", "status", "priority", "subject", "requester", "assignee", "updated_at")


@click.group()
def tickets() -> None:
    """Create, find and work tickets."""


@tickets.command("list")
@click.option("--status")
@click.option("--priority")
@click.option("--assignee", metavar="EMAIL", help="An agent's email, or 'none' for unassigned.")
@click.option("--requester", metavar="EMAIL")
@click.option("--tag")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@format_option
@pass_state
def list_command(
    state: CliState,
    status: str | None,
    priority: str | None,
    assignee: str | None,
    requester: str | None,
    tag: str | None,
    limit: int,
    output: str,
) -> None:
    """Newest first, with optional filters."""
    rows = state.runtime.desk.list_tickets(
        TicketFilter(
            status=status, priority=priority, assignee=assignee, requester=requester, tag=tag, limit=limit
        )
    )
    if output == "json":
        emit_json(rows)
    else:
        emit_table([to_jsonable(r) | {"updated_at": r.updated_at} for r in rows], LIST_COLUMNS, "no tickets")


@tickets.command("show")
@click.argument("number")
@format_option
@pass_state
def show_command(state: CliState, number: str, output: str) -> None:
    """One ticket with its comments and its audit trail."""
    detail = state.runtime.desk.visible_ticket(Actor.console(), number)
    if output == "json":
        emit_json({**to_jsonable(detail.ticket), "comments": detail.comments, "events": detail.events})
    else:
        _print_detail(detail)


@tickets.command("create")
@click.option("--subject", required=True)
@click.option("--requester", required=True, metavar="EMAIL")
@click.option("--description", default="")
@click.option("--priority")
@click.option("--category", metavar="PATH", help="e.g. Network or Network/VPN.")
@click.option("--team")
@format_option
@pass_state
def create_command(
    state: CliState,
    subject: str,
    requester: str,
    description: str,
    priority: str | None,
    category: str | None,
    team: str | None,
    output: str,
) -> None:
    """Open a ticket on behalf of a requester (created as a person if new)."""
    if priority:
        parse_priority(priority)
    desk = state.runtime.desk
    receipt = desk.receive(
        Inbound(
            channel="cli",
            authenticated=True,  # the operator at the terminal
            sender=Identity(email=requester),
            subject=subject,
            text=description,
            priority=priority,
            category=category,
            team=team,
        )
    )
    # A message from the terminal always opens a ticket; the receipt types every outcome, though.
    if receipt.ticket_number is None:
        raise click.ClickException(f"no ticket was opened: {receipt.rule}")
    _emit_ticket(
        desk.visible_ticket(Actor.console(), receipt.ticket_number).ticket,
        output,
        f"created {receipt.ticket_number}",
    )


@tickets.command("comment")
@click.argument("number")
@click.argument("text")
@click.option("--internal", is_flag=True, help="Visible to agents only; nobody is notified.")
@as_option
@format_option
@pass_state
def comment_command(
    state: CliState, number: str, text: str, internal: bool, as_email: str | None, output: str
) -> None:
    """Add a comment; a public one is emailed to the requester."""
    desk = state.runtime.desk
    actor = desk.actor(as_email)
    written = desk.comment(actor, number, text, public=not internal, channel="cli")
    view = desk.visible_ticket(actor, written.ticket_number).ticket
    _emit_ticket(view, output, f"commented on {view.number}")


@tickets.command("assign")
@click.argument("number")
@click.argument("email", metavar="EMAIL|none")
@as_option
@format_option
@pass_state
def assign_command(state: CliState, number: str, email: str, as_email: str | None, output: str) -> None:
    """Assign to an agent, or 'none' to unassign."""
    desk = state.runtime.desk
    view = desk.assign(desk.actor(as_email), number, None if email.lower() == "none" else email)
    _emit_ticket(view, output, f"{view.number} assigned to {view.assignee or 'nobody'}")


@tickets.command("status")
@click.argument("number")
@click.argument("status")
@as_option
@format_option
@pass_state
def status_command(state: CliState, number: str, status: str, as_email: str | None, output: str) -> None:
    """Move a ticket along its workflow (open, in_progress, waiting_customer, resolved, closed)."""
    desk = state.runtime.desk
    view = desk.transition(desk.actor(as_email), number, parse_status(status))
    _emit_ticket(view, output, f"{view.number} is now {view.status}")


@tickets.command("merge")
@click.argument("source")
@click.argument("target")
@as_option
@format_option
@pass_state
def merge_command(state: CliState, source: str, target: str, as_email: str | None, output: str) -> None:
    """Merge SOURCE into TARGET: comments and references move, SOURCE is closed."""
    desk = state.runtime.desk
    view = desk.merge(desk.actor(as_email), source, target)
    merged = format_number(state.settings.ticket_prefix, parse_number(state.settings.ticket_prefix, source))
    _emit_ticket(view, output, f"merged {merged} into {view.number}")


@tickets.command("escalate")
@click.argument("number")
@click.option("--reason", required=True, help="Why it cannot wait; recorded in the audit log.")
@as_option
@format_option
@pass_state
def escalate_command(state: CliState, number: str, reason: str, as_email: str | None, output: str) -> None:
    """Ask for attention now: the reason goes on record, to the ticket's thread and to its assignee."""
    desk = state.runtime.desk
    view = desk.escalate(desk.actor(as_email), number, reason)
    _emit_ticket(view, output, f"escalated {view.number}")


@tickets.command("update")
@click.argument("number")
@click.option("--priority")
@click.option("--category", metavar="PATH", help="A category path, or 'none' to clear it.")
@click.option("--tag", "add_tags", multiple=True, help="Add a tag (repeatable).")
@click.option("--untag", "remove_tags", multiple=True, help="Remove a tag (repeatable).")
@click.option(
    "--field",
    "field_values",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set a custom field (repeatable); KEY= clears it.",
)
@as_option
@format_option
@pass_state
def update_command(
    state: CliState,
    number: str,
    priority: str | None,
    category: str | None,
    add_tags: tuple[str, ...],
    remove_tags: tuple[str, ...],
    field_values: tuple[str, ...],
    as_email: str | None,
    output: str,
) -> None:
    """Change priority, category, tags and custom fields together: all of them or, on an error, none."""
    desk = state.runtime.desk
    changes = TicketChanges(
        priority=parse_priority(priority) if priority else None,
        category=("" if category.lower() == "none" else category) if category is not None else None,
        add_tags=add_tags,
        remove_tags=remove_tags,
        fields={key: value or None for key, value in map(_split_field, field_values)},
    )
    view = desk.update(desk.actor(as_email), number, changes)
    _emit_ticket(view, output, f"updated {view.number}")


def _split_field(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--field")
    return key.strip(), value


def _emit_ticket(view: TicketView, output: str, message: str) -> None:
    if output == "json":
        emit_json(view)
    else:
        echo(message)


def _print_detail(detail: TicketDetail) -> None:
    ticket = detail.ticket
    echo(f"{ticket.number}  {ticket.subject}")
    lines = [
        ("status", ticket.status),
        ("priority", ticket.priority),
        ("requester", ticket.requester),
        ("assignee", ticket.assignee or "-"),
        ("team", ticket.team or "-"),
        ("category", ticket.category or "-"),
        ("tags", ", ".join(ticket.tags) or "-"),
        ("channel", ticket.channel),
        ("created", ticket.created_at.strftime("%Y-%m-%d %H:%M UTC")),
        ("updated", ticket.updated_at.strftime("%Y-%m-%d %H:%M UTC")),
    ]
    if ticket.merged_into:
        lines.append(("merged into", ticket.merged_into))
    lines += [(key, str(value)) for key, value in sorted(ticket.custom_fields.items())]
    width = max(len(key) for key, _ in lines)
    for key, value in lines:
        echo(f"  {key.ljust(width)}  {value}")
    echo("\nComments")
    for item in detail.comments:
        kind = "public" if item.public else "internal"
        flag = ", FLAGGED: sender not verified" if item.flagged else ""
        echo(f"  [{item.created_at:%Y-%m-%d %H:%M}] {item.author or 'system'} ({kind}, {item.channel}{flag})")
        for line in (item.body or "(empty)").splitlines() or ["(empty)"]:
            echo(f"    {line}")
        if item.source_sha256:
            echo(f"    (raw message kept as {item.source_sha256[:12]}…)")
        for attachment in item.attachments:
            echo(f"    📎 {attachment.filename} ({attachment.content_type}, {attachment.size} bytes)")
    echo("\nEvents")
    for event in detail.events:
        change = f"{event.before} -> {event.after}" if event.before else f"{event.after or ''}"
        echo(f"  [{event.created_at:%Y-%m-%d %H:%M}] {event.actor}: {event.kind} {change}")
