"""``supportbot sharing ...``: agreements and shares from the command line, on SQLite and PostgreSQL.

Run as a user would type them and read back through ``--format json`` and
``outbox list``. The partner's side (its invitation, its acceptance) comes in
through the sharing facade, as :mod:`channels.sharing` would hand it over.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.desk.facade import Desk
from bot.sharing.protocol import new_secret
from bot.sharing.service import Sharing
from tests.fakes import FakeClock
from tests.integration.cli.support import AGENT, Cli, outbox_rows

PARTNER = "https://partner.example.net/sharing"


@pytest.fixture
def environ(tmp_path: Path, database_url: str) -> dict[str, str]:
    """A help desk partners reach over https, as sharing wants it."""
    return {
        "SUPPORTBOT_DATA_DIR": str(tmp_path / "data"),
        "SUPPORTBOT_DATABASE_URL": database_url,
        "SUPPORTBOT_SHARING_PUBLIC_URL": "https://help.example.org/sharing",
    }


@pytest.fixture
def clock() -> FakeClock:
    """The commands run on the system clock: the partner's invitations arrive now, not on the
    fixed test date, or they would be past sharing.invitation_ttl_days when answered."""
    return FakeClock(datetime.now(UTC))


def received(desk: Desk, name: str = "Acme Support") -> str:
    """An invitation from a partner, as its gem sends it (every field, no token); its uuid."""
    uuid = new_secret()
    body: dict[str, Any] = {
        "receiver_url": "https://helpdesk.example.org/sharing",
        "sender_url": "https://acme.zendesk.example/sharing",
        "status": "pending",
        "uuid": uuid,
        "access_key": new_secret(),
        "name": name,
        "current_actor": {"uuid": "3c2b", "name": "Ada Admin", "role": "admin"},
        "sync_tags": True,
        "sync_custom_fields": False,
        "allows_public_comments": True,
        "deactivated_by": None,
    }
    assert Sharing(desk).receive_invitation(None, uuid, body) is True
    return uuid


def partner_accepts(desk: Desk, agreement_id: int) -> None:
    """The partner's ``PUT /agreements/{uuid}`` with the agreement's token."""
    sharing = Sharing(desk)
    partner = sharing.partner(agreement_id)
    assert partner is not None
    uuid = partner.token.partition(":")[0]
    sharing.change_agreement(partner.token, uuid, {"uuid": uuid, "status": "accepted", "name": "Partner Co"})


def sharing_rows(cli: Cli) -> list[tuple[str, str, str | None]]:
    """What is queued for partners, oldest first: (template, recipient agreement, ticket)."""
    rows = sorted(outbox_rows(cli, channel="sharing"), key=lambda row: int(row["id"]))
    return [(row["template"], row["recipient"], row["ticket"]) for row in rows]


# -- agreements --------------------------------------------------------------------------------


def test_invite_lists_a_pending_agreement_we_sent_and_queues_the_invitation(cli: Cli) -> None:
    out = cli.ok("sharing", "invite", PARTNER + "/")

    assert out.startswith(f"agreement 1: pending, to {PARTNER}\n")
    [listed] = cli.json("sharing", "list")
    assert {k: listed[k] for k in ("id", "side", "status", "partner_url", "shared_tickets")} == {
        "id": 1,
        "side": "sender",
        "status": "pending",
        "partner_url": PARTNER,
        "shared_tickets": 0,
    }
    assert (listed["sync_tags"], listed["sync_custom_fields"], listed["allows_public_comments"]) == (
        True,
        False,
        True,
    )
    assert "access_key" not in listed
    assert cli.json("sharing", "show", "1") == listed
    assert sharing_rows(cli) == [("POST agreements", "1", None)]
    table = cli.ok("sharing", "list")
    assert "sender" in table and PARTNER in table and "pending" in table


def test_invite_options_set_the_agreements_permissions(cli: Cli) -> None:
    view = cli.json(
        "sharing", "invite", PARTNER, "--no-sync-tags", "--sync-custom-fields", "--private-comments"
    )

    assert (view["sync_tags"], view["sync_custom_fields"], view["allows_public_comments"]) == (
        False,
        True,
        False,
    )
    assert "partner comments private" in cli.ok("sharing", "show", str(view["id"]))


@pytest.mark.parametrize("url", ["ftp://partner.example.net/sharing", "partner.example.net/sharing"])
def test_invite_refuses_what_is_not_an_http_url(cli: Cli, url: str) -> None:
    assert "URL" in cli.fails("sharing", "invite", url)
    assert cli.json("sharing", "list") == []
    assert sharing_rows(cli) == []


def test_accepting_an_agreement_we_sent_is_refused(cli: Cli) -> None:
    cli.ok("sharing", "invite", PARTNER)

    for verb in ("accept", "decline"):
        message = cli.fails("sharing", verb, "1")
        assert message.startswith("error: agreement 1 is pending and ours as sender")
        assert "only an invitation we received" in message
    [listed] = cli.json("sharing", "list")
    assert listed["status"] == "pending"
    assert sharing_rows(cli) == [("POST agreements", "1", None)]


def test_an_agent_cannot_manage_agreements(cli: Cli, ticket: str) -> None:
    message = cli.fails("sharing", "invite", PARTNER, "--as", AGENT)

    assert message == f"error: only admins can invite another help desk to share tickets; {AGENT} is a agent"
    assert "only admins" in cli.fails("sharing", "list", "--as", AGENT)
    assert cli.json("sharing", "list") == []
    cli.ok("sharing", "invite", PARTNER)
    assert "only admins" in cli.fails("sharing", "deactivate", "1", "--as", AGENT)
    assert sharing_rows(cli) == [("POST agreements", "1", None)]


def test_an_unknown_person_or_agreement_is_named(cli: Cli) -> None:
    assert "nobody@example.com" in cli.fails("sharing", "list", "--as", "nobody@example.com")
    assert cli.fails("sharing", "accept", "7") == "error: no sharing agreement 7"
    assert cli.run("sharing", "accept", "0").exit_code == 2  # click's usage error: ids start at 1


def test_accept_decline_and_deactivate_invitations_we_received(cli: Cli, desk: Desk) -> None:
    received(desk, "Acme Support")
    received(desk, "Initech")
    assert sharing_rows(cli) == []  # receiving an invitation answers it; it queues nothing

    accepted = cli.json("sharing", "accept", "1")
    declined = cli.json("sharing", "decline", "2")

    # In force once the sender has taken the answer (the outbox's client confirms it).
    assert (accepted["side"], accepted["status"], accepted["partner"]) == (
        "receiver",
        "accepting",
        "Acme Support",
    )
    assert (declined["side"], declined["status"]) == ("receiver", "declined")
    assert "agreement 2 is declined" in cli.fails("sharing", "accept", "2")
    assert cli.ok("sharing", "deactivate", "1").startswith("agreement 1: inactive, from Acme Support")
    assert [(a["id"], a["status"], a["deactivated_by"]) for a in cli.json("sharing", "list")] == [
        (1, "inactive", "receiver"),
        (2, "declined", None),
    ]
    assert "only an accepted one can end" in cli.fails("sharing", "deactivate", "1")
    assert sharing_rows(cli) == [
        ("PUT agreements", "1", None),  # accepted
        ("PUT agreements", "2", None),  # declined
        ("PUT agreements", "1", None),  # inactive
    ]


# -- a ticket's shares -------------------------------------------------------------------------


def test_sharing_a_ticket_under_a_pending_agreement_is_refused(cli: Cli, ticket: str) -> None:
    cli.ok("sharing", "invite", PARTNER)

    message = cli.fails("sharing", "share", ticket, "--agreement", "1", "--as", AGENT)

    assert message == "error: agreement 1 is pending, not accepted"
    assert cli.json("sharing", "shares", ticket) == []
    assert cli.ok("sharing", "shares", ticket) == f"{ticket} is not shared\n"
    assert sharing_rows(cli) == [("POST agreements", "1", None)]


def test_sharing_a_ticket_under_an_agreement_we_received_is_refused(
    cli: Cli, ticket: str, desk: Desk
) -> None:
    received(desk)
    cli.ok("sharing", "accept", "1")

    assert "sharing ours needs an agreement we sent" in cli.fails(
        "sharing", "share", ticket, "--agreement", "1"
    )
    assert cli.json("sharing", "shares", ticket) == []


def test_share_list_and_unshare_under_an_accepted_agreement(cli: Cli, ticket: str, desk: Desk) -> None:
    cli.ok("sharing", "invite", PARTNER)
    partner_accepts(desk, 1)

    shared = cli.json("sharing", "share", ticket, "--agreement", "1", "--as", AGENT)

    assert {k: shared[k] for k in ("agreement", "partner", "ticket", "side", "detached_at")} == {
        "agreement": 1,
        "partner": "Partner Co",
        "ticket": ticket,
        "side": "sharer",
        "detached_at": None,
    }
    assert cli.json("sharing", "shares", ticket, "--as", AGENT) == [shared]
    assert ticket in cli.ok("sharing", "shares", ticket)
    assert cli.json("sharing", "show", "1")["shared_tickets"] == 1

    out = cli.ok("sharing", "unshare", ticket, "--agreement", "1", "--as", AGENT)

    assert out.startswith(f"{ticket} no longer shared with Partner Co (agreement 1")
    [link] = cli.json("sharing", "shares", ticket)
    assert link["detached_at"] is not None
    assert f"{ticket} is not shared under agreement 1" in cli.fails(
        "sharing", "unshare", ticket, "--agreement", "1"
    )
    assert sharing_rows(cli) == [
        ("POST agreements", "1", None),
        ("POST tickets", "1", ticket),
        ("DELETE tickets", "1", ticket),
    ]


def test_a_requester_cannot_share_tickets(cli: Cli, ticket: str) -> None:
    cli.ok("sharing", "invite", PARTNER)

    message = cli.fails("sharing", "share", ticket, "--agreement", "1", "--as", "customer@example.com")

    assert "only agents and admins can share tickets" in message
    assert "only agents and admins" in cli.fails("sharing", "shares", ticket, "--as", "customer@example.com")


# -- unanswered invitations --------------------------------------------------------------------


def test_an_admin_dismisses_one_invitation_and_clears_the_rest_an_agent_cannot(
    cli: Cli, ticket: str, desk: Desk
) -> None:
    for name in ("Acme Support", "Initech", "Umbrella"):
        received(desk, name)
    assert "only admins can dismiss" in cli.fails("sharing", "dismiss", "1", "--as", AGENT)
    assert "only admins can clear" in cli.fails("sharing", "clear-invitations", "--as", AGENT)
    assert len(cli.json("sharing", "list")) == 3

    assert cli.ok("sharing", "dismiss", "2").strip() == (
        "agreement 2: invitation from https://acme.zendesk.example/sharing dismissed"
    )
    assert cli.fails("sharing", "dismiss", "2") == "error: no sharing agreement 2"
    assert cli.json("sharing", "clear-invitations") == {"dismissed": 2}
    assert cli.json("sharing", "list") == []
    assert sharing_rows(cli) == [], "the senders are not told"
    sent = cli.json("sharing", "invite", PARTNER)
    assert "only an invitation we received" in cli.fails("sharing", "dismiss", str(sent["id"]))
