"""The protocol's rules, checked by speaking it raw over HTTP the way Zendesk's gem and RT do.

One help desk (ours, the receiver) and a hand-written partner; every rule of
``../shared/ticket_sharing.md``'s interop checklist has a test here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.errors import Conflict
from bot.model import Actor
from bot.notify.outbox import Dispatcher
from bot.read.queries import TicketFilter
from bot.sharing.protocol import new_secret
from bot.store import tables as t
from channels.sharing.client import SharingClient
from tests.fakes import FakeClock
from tests.integration.sharing_harness import HelpDesk, protocol_client, start

PARTNER = "https://acme.zendesk.example/sharing"


class Partner:
    """A partner help desk that speaks the protocol by hand."""

    def __init__(self, desk: HelpDesk) -> None:
        self.desk = desk
        self.http = protocol_client()
        self.uuid = new_secret()
        self.key = new_secret()

    @property
    def token(self) -> str:
        return f"{self.uuid}:{self.key}"

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "mine",
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> httpx.Response:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token == "mine":
            token = self.token
        if token is not None:
            sent["X-Ticket-Sharing-Token"] = token
        content = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        return self.http.request(method, f"{self.desk.base}/{path}", content=content, headers=sent)

    def invitation(self, **changes: Any) -> dict[str, Any]:
        """What the gem sends: every field, unset ones null."""
        return {
            "uuid": self.uuid,
            "access_key": self.key,
            "name": "Acme Support",
            "sender_url": PARTNER,
            "receiver_url": self.desk.base,
            "status": "pending",
            "current_actor": {"uuid": "3c2b", "name": "Ada Admin", "role": "admin"},
            "sync_tags": True,
            "sync_custom_fields": False,
            "allows_public_comments": True,
            **changes,
        }

    def invite(self, **changes: Any) -> httpx.Response:
        return self.call("POST", f"agreements/{self.uuid}", self.invitation(**changes), token=None)

    def agreed(self, **changes: Any) -> None:
        assert self.invite(**changes).status_code == 201
        [view] = [a for a in self.desk.sharing.agreements(self.desk.admin) if a.uuid == self.uuid]
        self.desk.sharing.answer(self.desk.admin, view.id, "accepted")
        # This partner has no server to take our answer: what the client does once it has.
        self.desk.sharing.confirm(view.id, True)

    def ticket(self, uuid: str = "b5e0", **changes: Any) -> dict[str, Any]:
        return {
            "uuid": uuid,
            "subject": "Printer on fire",
            "requested_at": "2026-03-02 09:15:00 +0100",
            "status": "open",
            "original_id": "1042",
            "requester": {"uuid": "d41c", "name": "Joe Customer", "role": "end-user"},
            "current_actor": {"uuid": "e9f2", "name": "Sam Agent", "role": "agent"},
            "tags": ["hardware", "urgent"],
            "custom_fields": {"Serial number": "X-99"},
            "custom_status": None,
            "comments": [
                {
                    "uuid": "c001",
                    "author": {"uuid": "d41c", "name": "Joe Customer", "role": "end-user"},
                    "body": "It is on fire.",
                    "html_body": "<p>It is on fire.</p>",
                    "authored_at": "2026-03-02 09:15:00 +0100",
                    "public": True,
                    "attachments": [
                        {
                            "url": "https://acme.zendesk.example/attachments/token/abc/?name=fire.jpg",
                            "filename": "fire.jpg",
                            "content_type": "image/jpeg",
                            "display_filename": "fire.jpg",
                        }
                    ],
                    "custom_fields": None,
                },
                {
                    "uuid": "c002",
                    "author": {"uuid": "e9f2", "name": "Sam Agent", "role": "agent"},
                    "body": "Escalating to hardware partner.",
                    "html_body": None,
                    "authored_at": "2026-03-02T09:20:11Z",
                    "public": False,
                    "attachments": None,
                    "custom_fields": None,
                },
            ],
            **changes,
        }

    def ours(self) -> tuple[str, list[tuple[str, bool]]]:
        [view] = self.desk.desk.list_tickets(TicketFilter())
        return view.number, self.desk.comments(view.number)


@pytest.fixture
def partner(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Partner]:
    with ExitStack() as stack:
        partner = Partner(start(stack, "Globex", database_url, tmp_path / "data", clock))
        stack.callback(lambda: partner.http.close())
        yield partner


# -- agreements ----------------------------------------------------------------------------------


def test_invitation_without_token_is_pending_and_a_repeat_changes_nothing(partner: Partner) -> None:
    assert partner.invite().status_code == 201
    assert partner.invite().status_code == 200
    [view] = partner.desk.sharing.agreements(partner.desk.admin)
    assert (view.status, view.side, view.partner, view.partner_url) == (
        "pending",
        "receiver",
        "Acme Support",
        PARTNER,
    )


def test_invitation_with_its_own_token_is_accepted_and_a_wrong_one_refused(partner: Partner) -> None:
    body = partner.invitation()
    assert (
        partner.call("POST", f"agreements/{partner.uuid}", body, token=f"{partner.uuid}:nope").status_code
        == 403
    )
    assert partner.call("POST", f"agreements/{partner.uuid}", body).status_code == 201


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"status": "accepted"}, "pending"),
        ({"status": "sleeping"}, "unknown agreement status"),
        ({"uuid": "another"}, "differs"),
        ({"access_key": None}, "access_key"),
        ({"sender_url": None}, "sender_url"),
        ({"sender_url": "ftp://acme"}, "http"),
        ({"sync_tags": "yes"}, "true or false"),
    ],
)
def test_bad_invitations_get_422_with_a_reason(partner: Partner, changes: dict[str, Any], why: str) -> None:
    response = partner.invite(**changes)
    assert response.status_code == 422
    assert why in response.json()["error"]


def test_an_agreement_uuid_with_a_colon_is_refused(partner: Partner) -> None:
    partner.uuid = "abc:def"
    assert partner.invite().status_code == 422


def _from(partner: Partner, address: str) -> Partner:
    """The partner's next requests leave from another loopback address: another source."""
    partner.http.close()
    partner.http = httpx.Client(
        timeout=10, trust_env=False, transport=httpx.HTTPTransport(local_address=address)
    )
    return partner


def _invite_as_new(partner: Partner, sender_url: str) -> httpx.Response:
    partner.uuid, partner.key = new_secret(), new_secret()
    return partner.invite(sender_url=sender_url)


def test_a_flood_from_one_source_never_locks_out_another(partner: Partner) -> None:
    """25 invitations from one address, each naming another desk: 3 wait, the rest are refused,
    and a genuine partner on another address is still taken."""
    answers = [_invite_as_new(partner, f"https://spam{i}.example/sharing") for i in range(25)]
    assert [a.status_code for a in answers] == [201] * 3 + [422] * 22
    assert "too many invitations from this source" in answers[-1].json()["error"]

    genuine = _invite_as_new(_from(partner, "127.0.0.2"), PARTNER)
    assert genuine.status_code == 201, genuine.text
    views = partner.desk.sharing.agreements(partner.desk.admin)
    assert [(v.partner_url, v.invited_from) for v in views][-1] == (PARTNER, "127.0.0.2")
    assert {v.invited_from for v in views[:3]} == {"127.0.0.1"}


def test_invitations_naming_a_partners_host_from_elsewhere_never_lock_that_partner_out(
    partner: Partner,
) -> None:
    """The URL an invitation names is its sender's word: forgeries naming a real partner's host,
    sent from other addresses, fill only their own addresses' share."""
    for address in ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"):
        assert _invite_as_new(_from(partner, address), PARTNER).status_code == 201
    genuine = _invite_as_new(_from(partner, "127.0.0.6"), PARTNER)
    assert genuine.status_code == 201, genuine.text


def test_expired_invitations_no_longer_count_and_are_dropped(partner: Partner, clock: FakeClock) -> None:
    ttl = partner.desk.settings.sharing.invitation_ttl_days
    assert ttl == 14
    for i in range(3):
        assert _invite_as_new(partner, f"https://spam{i}.example/sharing").status_code == 201
    assert _invite_as_new(partner, "https://spam3.example/sharing").status_code == 422
    [old, *_] = partner.desk.sharing.agreements(partner.desk.admin)

    clock.advance(days=ttl, seconds=-1)
    assert _invite_as_new(partner, "https://spam4.example/sharing").status_code == 422, "not yet"
    with pytest.raises(Conflict, match="invitation_ttl_days"):
        clock.advance(seconds=2)
        partner.desk.sharing.answer(partner.desk.admin, old.id, "accepted")
    assert _invite_as_new(partner, "https://spam5.example/sharing").status_code == 201

    views = partner.desk.sharing.agreements(partner.desk.admin)
    assert [v.partner_url for v in views] == ["https://spam5.example/sharing"], "the expired ones are gone"
    [event] = [e for e in partner.desk.rows(t.Event) if e.kind == "sharing_invitations_expired"]
    assert [i["from"] for i in event.after["invitations"]] == [
        f"https://spam{i}.example/sharing" for i in range(3)
    ]


def test_invitations_arriving_at_once_from_one_source_keep_to_its_cap(partner: Partner) -> None:
    """Twelve at the same moment, each in its own transaction: the cap is counted one after
    the other, so three wait and nine are refused (on PostgreSQL too, where they run at once)."""
    from concurrent.futures import ThreadPoolExecutor

    from bot.sharing import protocol as p

    def send(i: int) -> str:
        body = {**partner.invitation(), "uuid": new_secret(), "access_key": new_secret()}
        body["sender_url"] = f"https://spam{i}.example/sharing"
        try:
            partner.desk.sharing.receive_invitation(None, body["uuid"], body, "127.0.0.9")
        except p.ProtocolError as error:
            return str(error.status)
        return "taken"

    with ThreadPoolExecutor(12) as pool:
        outcomes = sorted(pool.map(send, range(12)))
    assert outcomes == ["422"] * 9 + ["taken"] * 3


def test_the_last_resort_cap_holds_across_sources(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    with ExitStack() as stack:
        desk = start(
            stack,
            "Globex",
            database_url,
            tmp_path / "data",
            clock,
            SUPPORTBOT_SHARING_MAX_PENDING_INVITATIONS="2",
        )
        partner = Partner(desk)
        stack.callback(lambda: partner.http.close())
        answers = [
            _invite_as_new(_from(partner, f"127.0.0.{n}"), f"https://desk{n}.example/sharing")
            for n in (2, 3, 4)
        ]
        assert [a.status_code for a in answers] == [201, 201, 422]
        assert "too many invitations wait" in answers[-1].json()["error"]
        partner.desk.sharing.clear_invitations(partner.desk.admin)
        assert _invite_as_new(partner, "https://desk5.example/sharing").status_code == 201


def test_a_known_uuid_with_another_key_is_refused(partner: Partner) -> None:
    assert partner.invite().status_code == 201
    partner.key = new_secret()
    assert partner.invite().status_code == 422


def test_agreement_changes_need_the_agreements_token(partner: Partner) -> None:
    partner.invite()
    path = f"agreements/{partner.uuid}"
    missing = partner.call("PUT", path, {"name": "x"}, token=None)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "X-Ticket-Sharing"
    assert partner.call("PUT", "agreements/unknown", {"name": "x"}).status_code == 404
    assert partner.call("PUT", path, {"name": "x"}, token=f"{partner.uuid}:wrong").status_code == 403
    assert partner.call("GET", path, token=None).status_code == 401
    read = partner.call("GET", path)
    assert read.status_code == 200
    assert read.json()["status"] == "pending" and "access_key" not in read.json()


def test_only_the_receiver_accepts_and_the_sender_may_rename_and_deactivate(partner: Partner) -> None:
    partner.invite()
    path = f"agreements/{partner.uuid}"
    # The partner is the sender here: accepting its own invitation is not its call.
    assert partner.call("PUT", path, {"status": "accepted"}).status_code == 422
    assert partner.call("PUT", path, {"name": "Acme Corp", "access_key": "changed"}).status_code == 200
    [view] = partner.desk.sharing.agreements(partner.desk.admin)
    assert view.partner == "Acme Corp"
    partner.desk.sharing.answer(partner.desk.admin, view.id, "accepted")
    # The access key never changes: the old token still works.
    assert partner.call("GET", path).status_code == 200
    wrong = partner.call("PUT", path, {"status": "inactive", "deactivated_by": "receiver"})
    assert wrong.status_code == 422 and "sender" in wrong.json()["error"]
    assert partner.call("PUT", path, {"status": "inactive", "deactivated_by": "sender"}).status_code == 200
    assert partner.call("PUT", path, {"status": "accepted"}).status_code == 422  # no reactivation
    [view] = partner.desk.sharing.agreements(partner.desk.admin)
    assert (view.status, view.deactivated_by) == ("inactive", "sender")


# -- headers and bodies --------------------------------------------------------------------------


def test_version_header_is_optional_and_another_version_gets_412(partner: Partner) -> None:
    path = f"agreements/{partner.uuid}"
    body = partner.invitation()
    assert (
        partner.call("POST", path, body, token=None, headers={"X-Ticket-Sharing-Version": "2"}).status_code
        == 412
    )
    assert (
        partner.call("POST", path, body, token=None, headers={"X-Ticket-Sharing-Version": "1"}).status_code
        == 201
    )


@pytest.mark.parametrize("kind", ["application/json", 'text/x-json; charset="UTF-8"', "text/json", ""])
def test_json_is_read_whatever_its_content_type_says(partner: Partner, kind: str) -> None:
    body = json.dumps(partner.invitation()).encode()
    response = partner.http.post(
        f"{partner.desk.base}/agreements/{partner.uuid}",
        content=body,
        headers={"Content-Type": kind} if kind else {},
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("raw", "kind"),
    [(b"{not json", "application/json"), (b"\xff\xfe", "application/json"), (b"{}", "text/plain")],
)
def test_unreadable_bodies_get_422_never_400(partner: Partner, raw: bytes, kind: str) -> None:
    response = partner.call(
        "POST", f"agreements/{partner.uuid}", raw=raw, token=None, headers={"Content-Type": kind}
    )
    assert response.status_code == 422
    assert response.json()["error"]


def test_an_oversize_body_gets_422(partner: Partner) -> None:
    partner.agreed()
    huge = partner.ticket(comments=[{"uuid": "c1", "body": "x" * (11 * 1024 * 1024), "public": True}])
    assert partner.call("POST", "tickets/big", huge).status_code == 422
    assert partner.desk.desk.list_tickets(TicketFilter()) == []


def test_unsupported_methods_get_405(partner: Partner) -> None:
    assert partner.call("DELETE", f"agreements/{partner.uuid}").status_code == 405


# -- tickets -------------------------------------------------------------------------------------


def test_tickets_wait_until_the_sender_has_taken_our_acceptance(partner: Partner) -> None:
    partner.invite()
    [view] = partner.desk.sharing.agreements(partner.desk.admin)
    assert partner.desk.sharing.answer(partner.desk.admin, view.id, "accepted").status == "accepting"
    waiting = partner.call("POST", "tickets/b5e0", partner.ticket())
    assert waiting.status_code == 403 and "accepting" in waiting.json()["error"]
    partner.desk.sharing.confirm(view.id, True)
    assert partner.call("POST", "tickets/b5e0", partner.ticket()).status_code == 201


def test_ticket_requests_need_an_accepted_agreement(partner: Partner) -> None:
    assert partner.call("POST", "tickets/b5e0", partner.ticket(), token=None).status_code == 401
    assert partner.call("POST", "tickets/b5e0", partner.ticket(), token="nouuid:nokey").status_code == 403
    partner.invite()
    pending = partner.call("POST", "tickets/b5e0", partner.ticket())
    assert pending.status_code == 403 and "pending" in pending.json()["error"]
    assert partner.desk.desk.list_tickets(TicketFilter()) == []


def test_shared_ticket_becomes_ours_with_its_comments_tags_and_links_to_files(partner: Partner) -> None:
    partner.agreed()
    assert partner.call("POST", "tickets/b5e0", partner.ticket()).status_code == 201
    number, comments = partner.ours()
    assert number.startswith("GLO-")
    body, public = comments[0]
    assert public and body.startswith("It is on fire.")
    assert "fire.jpg: https://acme.zendesk.example/attachments/token/abc/?name=fire.jpg" in body
    assert comments[1] == ("Escalating to hardware partner.", False)
    detail = partner.desk.desk.visible_ticket(Actor.console(), number)
    assert sorted(detail.ticket.tags) == ["hardware", "urgent"]
    assert "Joe Customer (Acme Support)" in detail.ticket.requester
    # A repeated share (the gem's job retried) is an idempotent upsert: nothing twice.
    assert partner.call("POST", "tickets/b5e0", partner.ticket()).status_code == 200
    assert len(partner.ours()[1]) == 2
    assert len(partner.desk.desk.list_tickets(TicketFilter())) == 1


def test_updates_are_partial_nulls_change_nothing_and_comments_are_kept_once(partner: Partner) -> None:
    partner.agreed()
    partner.call("POST", "tickets/b5e0", partner.ticket())
    update = {
        "uuid": "b5e0",
        "subject": None,
        "status": "pending",
        "tags": None,
        "current_actor": {"uuid": "77ab", "name": "Hal Hardware", "role": "agent"},
        "comments": [
            {
                "uuid": "c003",
                "author": {"uuid": "77ab", "name": "Hal Hardware", "role": "agent"},
                "body": "Replacement shipped.",
                "authored_at": "2026-03-02 11:02:40 +0000",
            }
        ],
    }
    assert partner.call("PUT", "tickets/b5e0", update).status_code == 200
    assert partner.call("PUT", "tickets/b5e0", update).status_code == 200
    number, comments = partner.ours()
    # The comment without "public" is public, as the gem means it; stored once.
    assert comments.count(("Replacement shipped.", True)) == 1
    detail = partner.desk.desk.visible_ticket(Actor.console(), number)
    assert detail.ticket.subject == "Printer on fire"
    assert detail.ticket.status == "waiting_customer"
    assert sorted(detail.ticket.tags) == ["hardware", "urgent"]


def test_a_partners_names_and_subjects_lose_control_characters(partner: Partner) -> None:
    partner.agreed(name="Acme\x1b]0;pwned\x07 Support")
    hostile = {"uuid": "d41c", "name": "Joe\x1b[2J\u202e", "role": "end-user"}
    partner.call("POST", "tickets/b5e0", partner.ticket(subject="Fire\x1b]52;c;eA==\x07", requester=hostile))
    number, _ = partner.ours()
    assert partner.call("PUT", "tickets/b5e0", {"subject": "Still\r\non \x1b[31mfire"}).status_code == 200
    detail = partner.desk.desk.visible_ticket(Actor.console(), number)
    assert detail.ticket.subject == "Still on [31mfire"
    assert "\x1b" not in detail.ticket.requester and "\u202e" not in detail.ticket.requester
    [view] = partner.desk.sharing.agreements(partner.desk.admin)
    assert view.partner == "Acme]0;pwned Support"


def test_status_outside_the_protocol_is_kept_as_it_was(partner: Partner) -> None:
    partner.agreed()
    partner.call("POST", "tickets/b5e0", partner.ticket())
    assert partner.call("PUT", "tickets/b5e0", {"status": "on-fire"}).status_code == 200
    number, _ = partner.ours()
    assert partner.desk.desk.visible_ticket(Actor.console(), number).ticket.status == "open"


def test_tags_are_ignored_unless_the_agreement_syncs_them(partner: Partner) -> None:
    partner.agreed(sync_tags=False)
    partner.call("POST", "tickets/b5e0", partner.ticket())
    number, _ = partner.ours()
    assert partner.desk.desk.visible_ticket(Actor.console(), number).ticket.tags == ()


def test_a_ticket_uuid_known_under_another_agreement_is_refused(partner: Partner) -> None:
    partner.agreed()
    partner.call("POST", "tickets/b5e0", partner.ticket())
    other = Partner(partner.desk)
    with other.http:
        other.agreed()
        assert other.call("POST", "tickets/b5e0", other.ticket()).status_code == 422
        assert other.call("PUT", "tickets/b5e0", {"status": "solved"}).status_code == 404


def test_unshare_with_an_empty_body_then_updates_get_410(partner: Partner) -> None:
    partner.agreed()
    partner.call("POST", "tickets/b5e0", partner.ticket())
    assert partner.call("DELETE", "tickets/b5e0", raw=b"").status_code == 200
    assert partner.call("PUT", "tickets/b5e0", {"status": "solved"}).status_code == 410
    assert len(partner.desk.desk.list_tickets(TicketFilter())) == 1  # the copy stays


def test_a_deactivated_agreement_answers_410(partner: Partner) -> None:
    partner.agreed()
    partner.call("POST", "tickets/b5e0", partner.ticket())
    partner.call("PUT", f"agreements/{partner.uuid}", {"status": "inactive", "deactivated_by": "sender"})
    assert partner.call("PUT", "tickets/b5e0", {"status": "solved"}).status_code == 410


def test_get_ticket_returns_it_in_the_protocols_shape(partner: Partner) -> None:
    partner.agreed()
    partner.call("POST", "tickets/b5e0", partner.ticket())
    read = partner.call("GET", "tickets/b5e0")
    assert read.status_code == 200
    body = read.json()
    assert body["uuid"] == "b5e0" and body["status"] == "open" and body["subject"] == "Printer on fire"
    assert [c["uuid"] for c in body["comments"]] == [
        "c001"
    ]  # the partner's internal note stays internal here
    assert body["requested_at"].count(":") == 2 and body["requested_at"][-5] in "+-"
    assert partner.call("GET", "tickets/unknown").status_code == 404


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"uuid": "other"}, 422),
        ({"comments": "nope"}, 422),
        ({"requester": "Joe"}, 422),
        ({"requested_at": "soon"}, 422),
    ],
)
def test_bad_tickets_get_422_and_store_nothing(
    partner: Partner, changes: dict[str, Any], status: int
) -> None:
    partner.agreed()
    assert partner.call("POST", "tickets/b5e0", partner.ticket(**changes)).status_code == status
    assert partner.desk.desk.list_tickets(TicketFilter()) == []
    assert partner.desk.rows(t.SharedTicket) == []


# -- our requests to partners --------------------------------------------------------------------


def test_a_partner_whose_name_resolves_inside_the_network_is_never_called(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    """The name is resolved once as the request leaves, every address is checked, and the
    request fails for good without a connection (the loopback answer is what a rebinding
    name would give after a public one)."""
    with ExitStack() as stack:
        desk = start(
            stack,
            "Acme",
            database_url,
            tmp_path / "data",
            clock,
            SUPPORTBOT_SHARING_ALLOW_PRIVATE_ADDRESSES="false",
            SUPPORTBOT_SHARING_PUBLIC_URL="https://help.example.org/sharing",
        )
        view = desk.sharing.invite(desk.admin, "https://globex.example/sharing")
        asked: list[str] = []

        def resolver(host: str, port: int) -> list[str]:
            asked.append(f"{host}:{port}")
            return ["127.0.0.1"]

        client = SharingClient(desk.sharing, clock, allow_private=False, resolver=resolver)
        dispatcher = Dispatcher(desk.store, clock, {"sharing": client}, desk.settings.outbox)
        assert dispatcher.run_until_idle().dead == 1
        error = desk.sharing.agreement(desk.admin, view.id).delivery_error or ""
        assert "globex.example is 127.0.0.1" in error and "sharing.allow_private_addresses is off" in error
        assert asked == ["globex.example:443"]
