"""``supportbot suspended ...`` and ``supportbot bans ...``: held mail and the ban list
from a terminal.

Staff find held mail (spam, a banned sender, a flood, a message that kept failing), read
it, release it (it is received then, acknowledgement included) or delete it; admins keep
the ban list. Deleting by filter names what it deletes: with neither words nor a reason,
it selects every held message and needs ``--all``.
"""

from __future__ import annotations

import sys

import click

from bot.desk.held import MAX_RELEASE
from bot.errors import NotFound, UserError
from bot.tickets.held_mail import HeldFilter, HeldView
from bot.tickets.suspension import REASONS
from channels.cli.automations import output_options
from channels.cli.context import CliState, as_option, emit_json, emit_table, pass_state
from channels.cli.terminal import echo
from channels.terminal_text import visible_line

MAX_ID = 2**31 - 1
Id = click.IntRange(1, MAX_ID)


def _json_wanted(output: str, as_json: bool) -> bool:
    return as_json or output == "json"


@click.group()
def suspended() -> None:
    """Mail held back instead of becoming a ticket: spam, banned senders, floods, failures."""


@suspended.command("list")
@click.option("--q", "words", metavar="WORDS", help="Words in the subject, sender or detail.")
@click.option("--reason", type=click.Choice(REASONS), help="Only messages held for this reason.")
@click.option("--released", is_flag=True, help="Released messages instead of held ones.")
@click.option("--before", type=Id, help="Messages older than this id (paging back).")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@as_option
@output_options
@pass_state
def list_command(
    state: CliState,
    words: str | None,
    reason: str | None,
    released: bool,
    before: int | None,
    limit: int,
    as_email: str | None,
    output: str,
    as_json: bool,
) -> None:
    """Held mail, newest first."""
    desk = state.runtime.desk
    held = desk.suspended_mail(
        desk.actor(as_email), HeldFilter(words or None, reason, released), before_id=before, limit=limit
    )
    if _json_wanted(output, as_json):
        emit_json(held)
        return
    columns: tuple[str, ...] = ("id", "reason", "sender", "subject", "received_at", "size")
    if released:
        columns = ("id", "reason", "sender", "subject", "released_at", "released_by", "ticket")
    emit_table([_row(view) for view in held], columns, "no suspended mail")
    if len(held) == limit:
        echo(f"older messages: --before {held[-1].id}")


@suspended.command("counts")
@as_option
@output_options
@pass_state
def counts_command(state: CliState, as_email: str | None, output: str, as_json: bool) -> None:
    """Messages still held, by reason."""
    desk = state.runtime.desk
    counts = desk.suspended_counts(desk.actor(as_email))
    if _json_wanted(output, as_json):
        emit_json({**counts, "total": sum(counts.values())})
        return
    emit_table([{"reason": r, "held": n} for r, n in counts.items()], ("reason", "held"), "")


@suspended.command("show")
@click.argument("held_id", metavar="ID", type=Id)
@click.option(
    "--source",
    is_flag=True,
    help="The raw message as it came (its bytes when written to a file or a pipe: > message.eml).",
)
@as_option
@output_options
@pass_state
def show_command(
    state: CliState, held_id: int, source: bool, as_email: str | None, output: str, as_json: bool
) -> None:
    """One message: who sent it, why it was held, and its text."""
    desk = state.runtime.desk
    actor = desk.actor(as_email)
    if source:
        raw = desk.suspended_source(actor, held_id)
        if raw is None:
            raise NotFound(f"suspended message {held_id} has no raw source kept")
        _write_source(raw)
        return
    view = desk.suspended_message(actor, held_id)
    if _json_wanted(output, as_json):
        emit_json(view)
        return
    for label, value in (
        ("reason", f"{view.reason}: {view.detail}"),
        ("from", f"{view.sender_name} <{view.sender}>" if view.sender_name else view.sender or "-"),
        ("subject", view.subject),
        ("to", view.mailbox or "-"),
        ("received", view.received_at.strftime("%Y-%m-%d %H:%M UTC")),
        ("size", f"{view.size} bytes, {view.attachments} attachment(s)"),
    ):
        echo(f"{label + ':':<10}{visible_line(value)}")
    if view.released_at is not None:
        when = view.released_at.strftime("%Y-%m-%d %H:%M UTC")
        echo(f"{'released:':<10}{when} by {view.released_by or '-'}: {view.ticket or '-'}")
    echo()
    echo(view.text or "")


@suspended.command("release")
@click.argument("ids", metavar="ID...", nargs=-1, required=True, type=Id)
@as_option
@output_options
@pass_state
def release_command(
    state: CliState, ids: tuple[int, ...], as_email: str | None, output: str, as_json: bool
) -> None:
    """Receive each message as it came: a ticket (acknowledged then) or a comment. One that
    cannot be released says why and stays held; the exit code is then 1."""
    if len(ids) > MAX_RELEASE:
        raise UserError(f"release at most {MAX_RELEASE} messages at once", field="ids")
    desk = state.runtime.desk
    results = desk.release_suspended(desk.actor(as_email), list(ids))
    if _json_wanted(output, as_json):
        emit_json(results)
    else:
        for result in results:
            if result.error is None:
                what = "new ticket" if result.created else "comment on"
                echo(f"suspended message {result.id} released: {what} {result.ticket}")
            else:
                shown = f" ({result.ticket})" if result.ticket else ""
                echo(f"suspended message {result.id} not released: {visible_line(result.error)}{shown}")
    if any(result.error is not None for result in results):
        raise SystemExit(1)


@suspended.command("delete")
@click.argument("ids", metavar="[ID...]", nargs=-1, type=Id)
@click.option("--q", "words", metavar="WORDS", help="Every held message with these words.")
@click.option("--reason", type=click.Choice(REASONS), help="Every held message held for this reason.")
@click.option("--all", "everything", is_flag=True, help="Confirms deleting every held message.")
@as_option
@output_options
@pass_state
def delete_command(
    state: CliState,
    ids: tuple[int, ...],
    words: str | None,
    reason: str | None,
    everything: bool,
    as_email: str | None,
    output: str,
    as_json: bool,
) -> None:
    """Delete the messages named, or every held message --q and --reason select; with
    neither, --all deletes every held message."""
    desk = state.runtime.desk
    actor = desk.actor(as_email)
    filtered = bool((words or "").split()) or reason is not None
    if ids and (filtered or everything):
        raise UserError("give either IDs or --q/--reason/--all, not both", field="ids")
    if ids:
        deleted = desk.delete_suspended(actor, ids=list(ids))
    elif filtered or everything:
        deleted = desk.delete_suspended(actor, held=HeldFilter(words or None, reason))
    else:
        raise UserError("name the messages: IDs, --q WORDS, --reason REASON, or --all", field="ids")
    if _json_wanted(output, as_json):
        emit_json({"deleted": deleted})
    else:
        echo(f"deleted {deleted} suspended message{'' if deleted == 1 else 's'}")


def _row(view: HeldView) -> dict[str, object]:
    return {
        "id": view.id,
        "reason": view.reason,
        "sender": visible_line(view.sender or "-"),
        "subject": visible_line(view.subject),
        "received_at": view.received_at,
        "size": view.size,
        "released_at": view.released_at,
        "released_by": view.released_by,
        "ticket": view.ticket,
    }


def _write_source(raw: bytes) -> None:
    """The bytes themselves into a file or a pipe; on a terminal, shown as text with every
    control character escaped (a message's bytes are a stranger's)."""
    if sys.stdout.isatty():
        echo(raw.decode("utf-8", errors="replace"))  # echo escapes every control character
        return
    sys.stdout.flush()
    sys.stdout.buffer.write(raw)
    sys.stdout.buffer.flush()


# -- the ban list ------------------------------------------------------------------------


@click.group()
def bans() -> None:
    """Addresses and domains whose mail is refused or suspended (admins only)."""


@bans.command("list")
@as_option
@output_options
@pass_state
def bans_list(state: CliState, as_email: str | None, output: str, as_json: bool) -> None:
    """Every ban, by pattern."""
    desk = state.runtime.desk
    rows = desk.bans(desk.actor(as_email))
    if _json_wanted(output, as_json):
        emit_json(rows)
        return
    shown = [
        {
            "id": ban.id,
            "pattern": ban.pattern,
            "kind": ban.kind,
            "note": visible_line(ban.note),
            "created_by": ban.created_by,
            "created_at": ban.created_at,
        }
        for ban in rows
    ]
    emit_table(shown, ("id", "pattern", "kind", "note", "created_by", "created_at"), "no banned senders")


@bans.command("add")
@click.argument("pattern")
@click.option("--note", default="", help="Why, for the next admin.")
@as_option
@output_options
@pass_state
def bans_add(
    state: CliState, pattern: str, note: str, as_email: str | None, output: str, as_json: bool
) -> None:
    """Ban PATTERN: an address (someone@example.com) or a domain (example.com, and every
    domain below it). It holds in every process at once."""
    desk = state.runtime.desk
    ban = desk.ban_sender(desk.actor(as_email), pattern, note)
    if _json_wanted(output, as_json):
        emit_json(ban)
    else:
        echo(f"banned {ban.kind} {ban.pattern} (id {ban.id})")


@bans.command("remove")
@click.argument("pattern_or_id", metavar="PATTERN_OR_ID")
@as_option
@output_options
@pass_state
def bans_remove(
    state: CliState, pattern_or_id: str, as_email: str | None, output: str, as_json: bool
) -> None:
    """Lift a ban, named by its pattern or its id."""
    desk = state.runtime.desk
    ban = desk.unban_sender(desk.actor(as_email), pattern_or_id)
    if _json_wanted(output, as_json):
        emit_json(ban)
    else:
        echo(f"ban on {ban.pattern} lifted")
