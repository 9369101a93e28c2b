"""Ticket sharing between two help desks over real HTTP: agreements, a shared ticket, both ways, no echo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import Conflict, Forbidden
from bot.model import Actor, Status
from bot.read.queries import TicketFilter
from bot.sharing.protocol import new_secret
from bot.store import tables as t
from tests.factories import make_inbound, make_ticket
from tests.fakes import FakeClock
from tests.integration.sharing_harness import HelpDesk, protocol_client, pump, two_desks


@pytest.fixture
def desks(
    database_url: str, sqlite_template: Path, tmp_path: Path, clock: FakeClock
) -> Iterator[tuple[HelpDesk, HelpDesk]]:
    with two_desks(database_url, sqlite_template, tmp_path, clock) as pair:
        yield pair


def agreed(acme: HelpDesk, globex: HelpDesk, **options: bool) -> int:
    """Acme invites Globex, Globex accepts; the ids of the agreement on each side."""
    sent = acme.sharing.invite(acme.admin, globex.base, **options)
    pump(acme, globex)
    [received] = [a for a in globex.sharing.agreements(globex.admin) if a.uuid == sent.uuid]
    assert received.status == "pending" and received.side == "receiver" and received.partner == acme.name
    globex.sharing.answer(globex.admin, received.id, "accepted")
    pump(acme, globex)
    assert acme.sharing.agreement(acme.admin, sent.id).status == "accepted"
    return sent.id


def test_invite_accept_share_comment_both_ways_status_and_no_echo(desks: tuple[HelpDesk, HelpDesk]) -> None:
    acme, globex = desks
    agreement = agreed(acme, globex)
    assert acme.sharing.agreement(acme.admin, agreement).partner == "Globex"
    sam = acme.agent("sam@acme.test", "Sam Agent")
    hal = globex.agent("hal@globex.test", "Hal Hardware")

    receipt = acme.desk.receive(
        make_inbound(email="joe@customer.test", subject="Printer on fire", text="It is on fire.")
    )
    number = receipt.ticket_number
    acme.desk.comment(sam, number, "Escalating to our hardware partner.", public=False)
    acme.sharing.share(sam, number, agreement)
    pump(acme, globex)

    # Globex has a ticket of its own, with the public comment and not Acme's internal note.
    [theirs] = globex.desk.list_tickets(TicketFilter())
    assert theirs.subject == "Printer on fire"
    assert theirs.number.startswith("GLO-")
    assert globex.comments(theirs.number) == [("It is on fire.", True)]
    assert "(Acme)" in str(theirs.requester)

    globex.desk.comment(hal, theirs.number, "Replacement shipped.")
    pump(acme, globex)
    assert acme.comments(number)[-1] == ("Replacement shipped.", True)
    # Acme relays the partner's public answer to its customer by email.
    assert any(m.recipient == "joe@customer.test" and m.template == "agent_replied" for m in acme.email.sent)

    acme.desk.comment(sam, number, "Thanks, Globex!")
    pump(acme, globex)
    assert [body for body, _ in globex.comments(theirs.number)] == [
        "It is on fire.",
        "Replacement shipped.",
        "Thanks, Globex!",
    ]

    globex.desk.transition(hal, theirs.number, Status.RESOLVED)
    pump(acme, globex)
    assert acme.desk.visible_ticket(Actor.console(), number).ticket.status == "resolved"
    assert globex.desk.visible_ticket(Actor.console(), theirs.number).ticket.status == "resolved"

    # No echo: each change crossed once, and nothing came back to where it started.
    assert acme.requests_sent() == ["POST agreements", "POST tickets", "PUT tickets"]
    assert globex.requests_sent() == ["PUT agreements", "PUT tickets", "PUT tickets"]
    assert len(acme.comments(number)) == 4  # opening, internal note, Globex's answer, thanks
    assert len(globex.comments(theirs.number)) == 3
    for desk in (acme, globex):
        assert all(row.status == "sent" for row in desk.rows(t.Notification) if row.channel == "sharing")


def test_only_admins_manage_agreements_and_only_accepted_ones_share(desks: tuple[HelpDesk, HelpDesk]) -> None:
    acme, globex = desks
    sam = acme.agent("sam@acme.test", "Sam Agent")
    with pytest.raises(Forbidden):
        acme.sharing.invite(sam, globex.base)
    sent = acme.sharing.invite(acme.admin, globex.base)
    number = make_ticket(acme.desk, email="joe@customer.test", subject="Help")
    with pytest.raises(Conflict, match="pending"):
        acme.sharing.share(sam, number, sent.id)
    with pytest.raises(Conflict, match="only an invitation we received"):
        acme.sharing.answer(acme.admin, sent.id, "accepted")


def test_declined_invitation_cannot_share(desks: tuple[HelpDesk, HelpDesk]) -> None:
    acme, globex = desks
    sent = acme.sharing.invite(acme.admin, globex.base)
    pump(acme, globex)
    [received] = globex.sharing.agreements(globex.admin)
    globex.sharing.answer(globex.admin, received.id, "declined")
    pump(acme, globex)
    assert acme.sharing.agreement(acme.admin, sent.id).status == "declined"
    number = make_ticket(acme.desk, email="joe@customer.test", subject="Help")
    with pytest.raises(Conflict, match="declined"):
        acme.sharing.share(acme.admin, number, sent.id)


def test_deactivation_stops_syncing_both_ways(desks: tuple[HelpDesk, HelpDesk]) -> None:
    acme, globex = desks
    agreement = agreed(acme, globex)
    number = make_ticket(acme.desk, email="joe@customer.test", subject="Help")
    acme.sharing.share(acme.admin, number, agreement)
    pump(acme, globex)
    [received] = globex.sharing.agreements(globex.admin)
    globex.sharing.answer(globex.admin, received.id, "inactive")
    pump(acme, globex)
    view = acme.sharing.agreement(acme.admin, agreement)
    assert (view.status, view.deactivated_by) == ("inactive", "receiver")
    before = acme.requests_sent()
    acme.desk.comment(acme.admin, number, "Anyone there?")
    pump(acme, globex)
    assert acme.requests_sent() == before  # nothing queued for an ended agreement


def test_unshare_leaves_the_partners_copy_and_stops_syncing(desks: tuple[HelpDesk, HelpDesk]) -> None:
    acme, globex = desks
    agreement = agreed(acme, globex)
    number = make_ticket(acme.desk, email="joe@customer.test", subject="Help")
    acme.sharing.share(acme.admin, number, agreement)
    pump(acme, globex)
    acme.sharing.unshare(acme.admin, number, agreement)
    pump(acme, globex)
    [theirs] = globex.rows(t.SharedTicket)
    assert theirs.detached_at is not None
    globex.desk.comment(globex.admin, f"GLO-{theirs.ticket_id}", "Still here")
    pump(acme, globex)
    assert globex.requests_sent() == ["PUT agreements"]


def test_private_comments_agreement_keeps_the_partners_answers_internal(
    desks: tuple[HelpDesk, HelpDesk],
) -> None:
    acme, globex = desks
    agreement = agreed(acme, globex, allows_public_comments=False)
    number = make_ticket(acme.desk, email="joe@customer.test", subject="Help")
    acme.sharing.share(acme.admin, number, agreement)
    pump(acme, globex)
    [theirs] = globex.rows(t.SharedTicket)
    globex.desk.comment(globex.admin, f"GLO-{theirs.ticket_id}", "Tell them to reboot")
    pump(acme, globex)
    assert acme.comments(number)[-1] == ("Tell them to reboot", False)
    assert not any(m.template == "agent_replied" for m in acme.email.sent)


def test_an_invitation_in_a_real_desks_name_is_not_in_force_when_that_desk_refuses(
    desks: tuple[HelpDesk, HelpDesk],
) -> None:
    """Anyone can send an invitation naming Acme's address; Acme refuses the acceptance, so
    the agreement never comes into force and the stranger's token opens nothing."""
    acme, globex = desks
    uuid, key = new_secret(), new_secret()
    forged = {"uuid": uuid, "access_key": key, "name": "Acme", "sender_url": acme.base, "status": "pending"}
    with protocol_client() as http:
        assert http.post(f"{globex.base}/agreements/{uuid}", json=forged).status_code == 201
        [received] = globex.sharing.agreements(globex.admin)
        assert globex.sharing.answer(globex.admin, received.id, "accepted").status == "accepting"
        pump(acme, globex)
        view = globex.sharing.agreement(globex.admin, received.id)
        assert view.status == "pending"
        assert view.delivery_error is not None and "404" in view.delivery_error
        token = {"X-Ticket-Sharing-Token": f"{uuid}:{key}"}
        refused = http.post(f"{globex.base}/tickets/t1", json={"subject": "Hi"}, headers=token)
        assert refused.status_code == 403


def test_a_retried_status_never_puts_back_an_older_one(desks: tuple[HelpDesk, HelpDesk]) -> None:
    acme, globex = desks
    agreement = agreed(acme, globex)
    number = make_ticket(acme.desk, email="joe@customer.test", subject="Help")
    acme.sharing.share(acme.admin, number, agreement)
    pump(acme, globex)
    # Both changes are queued before either is sent (the first as if its send had failed).
    acme.desk.transition(acme.admin, number, Status.RESOLVED)
    acme.desk.transition(acme.admin, number, Status.OPEN)
    pump(acme, globex)
    [link] = globex.rows(t.SharedTicket)
    assert globex.desk.visible_ticket(Actor.console(), f"GLO-{link.ticket_id}").ticket.status == "open"


def test_an_unchanged_partner_status_keeps_ours_and_mails_nobody(desks: tuple[HelpDesk, HelpDesk]) -> None:
    acme, globex = desks
    agreement = agreed(acme, globex)
    number = make_ticket(acme.desk, email="joe@customer.test", subject="Help")
    acme.sharing.share(acme.admin, number, agreement)
    pump(acme, globex)
    acme.desk.transition(acme.admin, number, Status.IN_PROGRESS)  # "open" on the wire
    pump(acme, globex)
    told = [m.template for m in acme.email.sent].count("status_changed")
    [link] = globex.rows(t.SharedTicket)
    globex.desk.comment(globex.admin, f"GLO-{link.ticket_id}", "On it")  # the PUT says "open" again
    pump(acme, globex)
    assert acme.desk.visible_ticket(Actor.console(), number).ticket.status == "in_progress"
    assert [m.template for m in acme.email.sent].count("status_changed") == told


def test_a_ticket_shared_with_us_cannot_be_shared_back(desks: tuple[HelpDesk, HelpDesk]) -> None:
    acme, globex = desks
    agreement = agreed(acme, globex)
    back = agreed(globex, acme)
    number = make_ticket(acme.desk, email="joe@customer.test", subject="Help")
    acme.sharing.share(acme.admin, number, agreement)
    pump(acme, globex)
    [link] = globex.rows(t.SharedTicket)
    with pytest.raises(Conflict, match="cannot be shared on"):
        globex.sharing.share(globex.admin, f"GLO-{link.ticket_id}", back)


def test_tags_sync_both_ways_and_ours_added_meanwhile_stay(desks: tuple[HelpDesk, HelpDesk]) -> None:
    acme, globex = desks
    agreement = agreed(acme, globex)
    number = make_ticket(acme.desk, email="joe@customer.test", subject="Help")
    acme.desk.set_tags(acme.admin, number, add=["hardware"])
    acme.sharing.share(acme.admin, number, agreement)
    pump(acme, globex)
    [link] = globex.rows(t.SharedTicket)
    theirs = f"GLO-{link.ticket_id}"
    assert globex.desk.visible_ticket(Actor.console(), theirs).ticket.tags == ("hardware",)
    globex.desk.set_tags(globex.admin, theirs, add=["vendor"])
    acme.desk.set_tags(acme.admin, number, add=["vip"])
    pump(acme, globex)
    assert set(acme.desk.visible_ticket(Actor.console(), number).ticket.tags) == {"hardware", "vendor", "vip"}
    assert set(globex.desk.visible_ticket(Actor.console(), theirs).ticket.tags) == {
        "hardware",
        "vendor",
        "vip",
    }


def test_the_sharers_agents_do_not_meet_our_first_response(desks: tuple[HelpDesk, HelpDesk]) -> None:
    acme, globex = desks
    agreement = agreed(acme, globex)
    number = make_ticket(acme.desk, email="joe@customer.test", subject="Help")
    sam = acme.agent("sam@acme.test", "Sam Agent")
    acme.sharing.share(acme.admin, number, agreement)
    acme.desk.comment(sam, number, "We asked Globex.")
    pump(acme, globex)
    [link] = globex.rows(t.SharedTicket)
    with globex.store.read() as session:
        ticket = session.get(t.Ticket, link.ticket_id)
        assert ticket is not None and ticket.first_response_at is None
