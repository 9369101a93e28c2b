"""``supportbot suspended`` and ``supportbot bans``: held mail and the ban list from a terminal,
on the same store the desk holds mail in (SQLite and PostgreSQL)."""

from __future__ import annotations

from bot.desk.facade import Desk
from bot.messages import Identity, Inbound
from bot.model import Actor, Role
from channels.cli import cli as supportbot
from tests.integration.api.test_held_api import SPAM, fail, hold, raw, refused
from tests.integration.cli.support import AGENT, REQUESTER, Cli


def test_held_mail_is_listed_searched_filtered_and_paged(cli: Cli, desk: Desk) -> None:
    ids = [hold(desk, f"Offer {n}", f"spammer{n}@example.net") for n in range(3)]
    fail(desk, "Broken")

    table = cli.ok("suspended", "list")
    header, _, *rows = table.splitlines()
    assert header.split() == ["id", "reason", "sender", "subject", "received_at", "size"]
    assert [row.split()[:2] for row in rows] == [
        [str(ids[2] + 1), "failed"],
        [str(ids[2]), "spam"],
        [str(ids[1]), "spam"],
        [str(ids[0]), "spam"],
    ]
    listed = cli.json("suspended", "list", "--reason", "spam", "--q", "SPAMMER1")
    assert [(item["id"], item["subject"], item["sender"]) for item in listed] == [
        (ids[1], "Offer 1", "spammer1@example.net")
    ]
    assert cli.json("suspended", "list", "--released") == []
    assert cli.ok("suspended", "list", "--released") == "no suspended mail\n"

    page = cli.ok("suspended", "list", "--limit", "2")
    assert page.splitlines()[-1] == f"older messages: --before {ids[2]}"
    rest = cli.json("suspended", "list", "--before", str(ids[2]), "--json")
    assert [item["id"] for item in rest] == [ids[1], ids[0]]

    assert cli.json("suspended", "counts") == {"spam": 3, "banned": 0, "burst": 0, "failed": 1, "total": 4}
    assert "reason" in cli.ok("suspended", "counts") and "failed" in cli.ok("suspended", "counts")
    junk = cli.run("suspended", "list", "--reason", "junk")  # click's usage error
    assert junk.exit_code == 2 and "'junk' is not one of 'spam', 'banned'" in junk.stderr
    assert "200 characters" in cli.fails("suspended", "list", "--q", "x" * 201)


def test_one_message_is_shown_as_text_and_its_source_as_bytes(cli: Cli, desk: Desk) -> None:
    held = hold(desk, "Invoice", "carol@example.org", "Where is \x1b]0;pwned\x07my invoice?")

    shown = cli.ok("suspended", "show", str(held))
    assert "reason:   spam: X-Spam-Flag: YES" in shown
    assert "from:     Carol <carol@example.org>" in shown
    assert "Where is \\u001b]0;pwned\\u0007my invoice?" in shown and "\x1b" not in shown
    assert cli.json("suspended", "show", str(held))["text"] == "Where is \x1b]0;pwned\x07my invoice?"

    source = cli.runner.invoke(supportbot, ["suspended", "show", str(held), "--source"], env=cli.env)
    assert source.exit_code == 0 and source.stdout_bytes == raw(
        "Invoice", "carol@example.org", "Where is \x1b]0;pwned\x07my invoice?", f"{SPAM}\r\n"
    )
    assert cli.fails("suspended", "show", "99999") == "error: no suspended message 99999"
    bare = desk.receive(
        Inbound(channel="email", sender=Identity(email="x@example.net"), subject="Bare", text="x", spam=SPAM)
    )
    assert "no raw source" in cli.fails("suspended", "show", str(bare.suspended_id), "--source")


def test_released_mail_becomes_a_ticket_and_a_second_release_says_why_not(cli: Cli, desk: Desk) -> None:
    first, second = hold(desk, "Printer on fire", "bob@example.com"), hold(desk, "Winner")

    assert (
        cli.ok("suspended", "release", str(first))
        == f"suspended message {first} released: new ticket SUP-1\n"
    )
    assert cli.json("tickets", "show", "SUP-1")["subject"] == "Printer on fire"

    again = cli.run("suspended", "release", str(first), str(second), "99999")
    assert again.exit_code == 1
    assert again.stdout.splitlines() == [
        f"suspended message {first} not released: already released (SUP-1)",
        f"suspended message {second} released: new ticket SUP-2",
        "suspended message 99999 not released: no suspended message 99999",
    ]
    [released] = cli.json("suspended", "list", "--released", "--q", "printer")
    assert (released["ticket"], released["released_by"]) == ("SUP-1", "cli")
    assert cli.json("suspended", "list") == []
    assert "at most 500" in cli.fails("suspended", "release", *[str(n) for n in range(1, 502)])


def test_mail_is_deleted_by_id_or_by_a_filter_and_everything_only_when_said(cli: Cli, desk: Desk) -> None:
    ids = [hold(desk, f"Offer {n}") for n in range(4)]
    fail(desk, "Broken")

    assert cli.ok("suspended", "delete", str(ids[0]), "99999") == "deleted 1 suspended message\n"
    assert cli.json("suspended", "delete", "--q", "offer 1") == {"deleted": 1}
    assert cli.ok("suspended", "delete", "--reason", "failed") == "deleted 1 suspended message\n"

    assert "--all" in cli.fails("suspended", "delete")
    assert "--all" in cli.fails("suspended", "delete", "--q", "   ")
    assert "not both" in cli.fails("suspended", "delete", str(ids[2]), "--reason", "spam")
    assert "not both" in cli.fails("suspended", "delete", str(ids[2]), "--all")
    assert len(cli.json("suspended", "list")) == 2

    assert cli.ok("suspended", "delete", "--all") == "deleted 2 suspended messages\n"
    assert cli.json("suspended", "list") == []


def test_requesters_are_refused_held_mail_and_agents_the_ban_list(cli: Cli, desk: Desk) -> None:
    held = hold(desk)
    cli.ok("people", "add", "--email", AGENT, "--name", "Ann Agent", "--role", "agent")
    cli.ok("people", "add", "--email", REQUESTER, "--name", "Rita")
    for args in (
        ("suspended", "list"),
        ("suspended", "show", str(held)),
        ("suspended", "release", str(held)),
        ("suspended", "delete", str(held)),
    ):
        assert cli.fails(*args, "--as", REQUESTER).startswith("error: "), args
    assert [item["id"] for item in cli.json("suspended", "list", "--as", AGENT)] == [held]
    for args in (("bans", "list"), ("bans", "add", "eve@example.com"), ("bans", "remove", "eve@example.com")):
        assert "admin" in cli.fails(*args, "--as", AGENT), args
    assert desk.bans(Actor.console()) == []


def test_admins_ban_and_unban_senders(cli: Cli, desk: Desk) -> None:
    desk.add_person(Actor.console(), "ada@support.test", name="Ada", role=Role.ADMIN)
    assert cli.ok("bans", "list") == "no banned senders\n"
    added = cli.json("bans", "add", "Eve@Example.COM", "--note", "phishing", "--as", "ada@support.test")
    assert (added["pattern"], added["kind"], added["note"], added["created_by"]) == (
        "eve@example.com",
        "address",
        "phishing",
        "ada@support.test",
    )
    assert cli.ok("bans", "add", "@spam.test").startswith("banned domain spam.test (id ")
    assert refused(desk, "x@mail.spam.test")
    table = cli.ok("bans", "list").splitlines()
    assert table[0].split() == ["id", "pattern", "kind", "note", "created_by", "created_at"]
    assert [row.split()[1] for row in table[2:]] == ["eve@example.com", "spam.test"]

    assert "already banned" in cli.fails("bans", "add", "eve@example.com")
    assert "not an address or a domain" in cli.fails("bans", "add", "not a pattern")
    for name in ("99999", "nobody@example.com", "99999999999999999999", "²"):
        assert "is not banned" in cli.fails("bans", "remove", name), name

    assert cli.ok("bans", "remove", "SPAM.test") == "ban on spam.test lifted\n"
    assert cli.json("bans", "remove", str(added["id"]))["pattern"] == "eve@example.com"
    assert cli.json("bans", "list") == []
    assert not refused(desk, "x@mail.spam.test")
