"""Suspended mail and the ban list over the API: staff find, read, download, release and
delete held mail; admins keep the ban list; everyone else is refused."""

from __future__ import annotations

import email
import hashlib
from email import policy
from typing import Any, get_args

import pytest
from sqlalchemy import func, select

from bot.desk.facade import Desk
from bot.errors import SenderRefused
from bot.messages import Identity, Inbound
from bot.model import Actor
from bot.store import tables as t
from bot.store.db import Store
from bot.tickets.suspension import REASONS
from channels.http.held_routes import Reason
from tests.integration.api.conftest import World

API = "/api/v1"
SPAM = "X-Spam-Flag: YES"


def raw(subject: str, sender: str, body: str = "Buy now.", headers: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: support@localhost\r\nSubject: {subject}\r\n"
        f"Message-ID: <{hashlib.sha256((subject + sender + body).encode()).hexdigest()[:16]}@example.net>\r\n"
        f"{headers}\r\n{body}\r\n"
    ).encode()


def hold(
    desk: Desk,
    subject: str = "Cheap pills",
    sender: str = "spammer@example.net",
    body: str = "Buy now.",
    *,
    key: str | None = None,
) -> int:
    """A message an upstream filter marked as spam, received as the email channel hands it in;
    the suspended message's id."""
    source = raw(subject, sender, body, f"{SPAM}\r\n")
    receipt = desk.receive(
        Inbound(
            channel="email",
            key=key or f"<{subject}-{sender}@example.net>",
            sender=Identity(email=sender, name=sender.split("@")[0].title()),
            subject=subject,
            text=body,
            source=source,
            mailbox="support@localhost",
            spam=SPAM,
        )
    )
    assert receipt.suspended_id is not None, receipt
    return receipt.suspended_id


def fail(desk: Desk, subject: str = "Broken") -> None:
    """A message that failed every attempt at storing it: kept as ``failed``."""
    inbound = Inbound(
        channel="email",
        key=f"<{subject}@example.com>",
        sender=Identity(email="bob@example.com"),
        subject=subject,
        text="It failed.",
        source=raw(subject, "bob@example.com", "It failed."),
    )
    for _ in range(desk.settings.email.max_attempts):
        desk.mail_failed(inbound, inbound.key or "", "smtp", "RuntimeError: broken")


def refused(desk: Desk, address: str) -> bool:
    """Whether mail from ``address`` is refused now, as the email channel hands it in."""
    try:
        desk.receive(Inbound(channel="email", sender=Identity(email=address), subject="Hello", text="Hi."))
    except SenderRefused:
        return True
    return False


def get(world: World, path: str, who: str = "agent", status: int = 200) -> Any:
    response = world.client.get(f"{API}{path}", headers=world.headers(who))
    assert response.status_code == status, response.text
    return response.json()


def post(world: World, path: str, body: Any, who: str = "agent", status: int = 200) -> Any:
    response = world.client.post(f"{API}{path}", json=body, headers=world.headers(who))
    assert response.status_code == status, response.text
    return response.json()


def tickets_count(store: Store) -> int:
    with store.read() as session:
        return session.scalar(select(func.count()).select_from(t.Ticket)) or 0


# -- finding and reading ---------------------------------------------------------------------


def test_staff_list_search_filter_and_page_held_mail(world: World, desk: Desk) -> None:
    ids = [hold(desk, f"Offer {n}", f"spammer{n}@example.net") for n in range(5)]
    fail(desk)

    page = get(world, "/suspended?limit=2")
    assert [item["id"] for item in page["items"]] == [ids[4] + 1, ids[4]]  # newest first: the failed one
    first = page["items"][1]
    assert {key: first[key] for key in ("reason", "sender", "sender_name", "subject", "mailbox")} == {
        "reason": "spam",
        "sender": "spammer4@example.net",
        "sender_name": "Spammer4",
        "subject": "Offer 4",
        "mailbox": "support@localhost",
    }
    assert first["text"] is None and first["released_at"] is None and first["size"] > 0
    assert first["detail"] == SPAM
    assert page["next"] == ids[4]
    rest = get(world, f"/suspended?limit=2&before={page['next']}")
    assert [item["id"] for item in rest["items"]] == [ids[3], ids[2]]
    last = get(world, f"/suspended?limit=5&before={ids[2]}")
    assert [item["id"] for item in last["items"]] == [ids[1], ids[0]] and last["next"] is None

    assert [item["reason"] for item in get(world, "/suspended?reason=failed")["items"]] == ["failed"]
    assert len(get(world, "/suspended?reason=spam")["items"]) == 5
    assert [item["subject"] for item in get(world, "/suspended?q=spammer2")["items"]] == ["Offer 2"]
    assert [item["subject"] for item in get(world, "/suspended?q=OFFER%203")["items"]] == ["Offer 3"]
    assert get(world, "/suspended?q=%25")["items"] == []  # a wildcard is a character like any other
    assert get(world, "/suspended?released=true")["items"] == []
    assert get(world, "/suspended/counts") == {"spam": 5, "banned": 0, "burst": 0, "failed": 1, "total": 6}

    one = get(world, f"/suspended/{ids[0]}")
    assert (one["subject"], one["text"], one["ticket"]) == ("Offer 0", "Buy now.", None)


def test_the_raw_source_is_a_download_that_never_renders(world: World, desk: Desk) -> None:
    held = hold(desk, "<script>alert(1)</script>", body="<img src=x onerror=alert(1)>")
    response = world.client.get(f"{API}/suspended/{held}/source", headers=world.headers("agent"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "message/rfc822"
    assert response.headers["content-disposition"].startswith(f'attachment; filename="suspended-{held}.eml"')
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]
    message = email.message_from_bytes(response.content, policy=policy.default)
    assert (message["Subject"], message["X-Spam-Flag"]) == ("<script>alert(1)</script>", "YES")


def test_a_message_kept_without_its_source_has_no_download(world: World, desk: Desk) -> None:
    receipt = desk.receive(
        Inbound(
            channel="email",
            sender=Identity(email="spammer@example.net"),
            subject="No source",
            text="x",
            spam=SPAM,
        )
    )
    assert receipt.suspended_id is not None
    missing = world.client.get(
        f"{API}/suspended/{receipt.suspended_id}/source", headers=world.headers("agent")
    )
    assert missing.status_code == 404 and "no raw source" in missing.json()["error"]["message"]


# -- releasing and deleting ------------------------------------------------------------------


def test_released_mail_becomes_an_acknowledged_ticket_once(world: World, desk: Desk, store: Store) -> None:
    first, second = hold(desk, "Not spam at all", "bob@example.com"), hold(desk, "Real spam")
    before = tickets_count(store)

    result = post(world, "/suspended/release", {"ids": [first, 99_999, first]})

    assert result["released"] == 1
    released, unknown = result["results"]
    assert (released["id"], released["created"], released["error"]) == (first, True, None)
    assert unknown == {"id": 99_999, "ticket": None, "created": False, "error": "no suspended message 99999"}
    ticket = get(world, f"/tickets/{released['ticket']}")["ticket"]
    assert (ticket["subject"], ticket["requester"]) == ("Not spam at all", "bob@example.com")
    assert tickets_count(store) == before + 1
    with store.read() as session:
        acknowledgements = session.scalars(
            select(t.Notification.recipient).where(t.Notification.template == "ticket_opened")
        ).all()
    assert "bob@example.com" in acknowledgements

    again = post(world, "/suspended/release", {"ids": [first]})
    assert again == {
        "released": 0,
        "results": [
            {"id": first, "ticket": released["ticket"], "created": False, "error": "already released"}
        ],
    }
    assert tickets_count(store) == before + 1
    assert [item["id"] for item in get(world, "/suspended")["items"]] == [second]
    [shown] = get(world, "/suspended?released=true")["items"]
    assert (shown["id"], shown["ticket"], shown["released_by"]) == (
        first,
        released["ticket"],
        "agent@support.test",
    )
    assert get(world, "/suspended/counts")["total"] == 1


def test_mail_is_deleted_by_ids_or_by_a_filter_that_says_what_it_selects(world: World, desk: Desk) -> None:
    ids = [hold(desk, f"Offer {n}") for n in range(4)]
    fail(desk, "Broken one")

    assert post(world, "/suspended/delete", {"ids": [ids[0], 99_999]}) == {"deleted": 1}
    assert post(world, "/suspended/delete", {"filter": {"q": "offer 1"}}) == {"deleted": 1}
    assert post(world, "/suspended/delete", {"filter": {"reason": "failed"}}) == {"deleted": 1}
    assert get(world, "/suspended/counts")["total"] == 2

    for body, field in (
        ({}, "ids"),
        ({"ids": [ids[2]], "filter": {"q": "offer"}}, "ids"),
        ({"filter": {}}, "all"),
        ({"filter": {"q": "   "}}, "all"),
        ({"ids": []}, "ids"),
        ({"filter": {"reason": "junk"}}, "filter.reason"),
        ({"filter": {"q": "x" * 201}}, "filter.q"),
        ({"filter": {"q": "a\x00b"}}, "filter.q"),
        ({"ids": [0]}, "ids.0"),
        ({"ids": [1], "colour": "red"}, "colour"),
    ):
        refused = post(world, "/suspended/delete", body, status=422)
        assert refused["error"]["field"] == field, (body, refused)
    assert get(world, "/suspended/counts")["total"] == 2

    assert post(world, "/suspended/delete", {"filter": {}, "all": True}) == {"deleted": 2}
    assert get(world, "/suspended")["items"] == []


# -- refusals --------------------------------------------------------------------------------


def test_requesters_and_strangers_are_refused_everything(world: World, desk: Desk) -> None:
    held = hold(desk)
    for who, status in (("requester", 403), ("nobody", 401)):
        for path in ("/suspended", "/suspended/counts", f"/suspended/{held}", f"/suspended/{held}/source"):
            assert world.client.get(f"{API}{path}", headers=world.headers(who)).status_code == status, (
                who,
                path,
            )
        for path, body in (("/suspended/release", {"ids": [held]}), ("/suspended/delete", {"ids": [held]})):
            response = world.client.post(f"{API}{path}", json=body, headers=world.headers(who))
            assert response.status_code == status, (who, path)
    assert [item["id"] for item in get(world, "/suspended")["items"]] == [held]  # still held


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("reason=junk", "reason"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("before=0", "before"),
        ("q=" + "x" * 201, "q"),
        ("q=a%00b", "q"),
    ],
)
def test_bad_filters_are_refused_naming_the_parameter(world: World, query: str, field: str) -> None:
    refused = get(world, f"/suspended?{query}", status=422)
    assert refused["error"]["field"] == field


def test_an_unknown_message_is_not_found(world: World) -> None:
    for path in ("/suspended/99999", "/suspended/99999/source"):
        assert get(world, path, status=404)["error"]["message"] == "no suspended message 99999"
    assert get(world, "/suspended/0", status=422)["error"]["field"] == "held_id"
    assert get(world, f"/suspended/{2**31}", status=422)["error"]["field"] == "held_id"
    too_many = post(world, "/suspended/release", {"ids": list(range(1, 502))}, status=422)
    assert too_many["error"]["field"] == "ids"


def test_the_reasons_in_the_schema_are_the_cores() -> None:
    assert get_args(Reason) == REASONS


# -- the ban list ----------------------------------------------------------------------------


def test_admins_ban_and_unban_senders_and_a_ban_holds_at_once(world: World, desk: Desk) -> None:
    address = post(world, "/bans", {"pattern": " Eve@Example.COM ", "note": "phishing"}, "admin", 201)
    assert {key: address[key] for key in ("pattern", "kind", "note", "created_by")} == {
        "pattern": "eve@example.com",
        "kind": "address",
        "note": "phishing",
        "created_by": "ada@support.test",
    }
    domain = post(world, "/bans", {"pattern": "*.spam.test"}, "admin", 201)
    assert (domain["pattern"], domain["kind"], domain["note"]) == ("spam.test", "domain", "")
    assert [ban["pattern"] for ban in get(world, "/bans", "admin")] == ["eve@example.com", "spam.test"]
    assert refused(desk, "someone@mail.spam.test")

    taken = post(world, "/bans", {"pattern": "EVE@example.com"}, "admin", 409)
    assert taken["error"]["field"] == "pattern"

    removed = world.client.delete(f"{API}/bans/{domain['id']}", headers=world.headers("admin"))
    assert removed.status_code == 200 and removed.json()["pattern"] == "spam.test"
    by_pattern = world.client.delete(f"{API}/bans/EVE@example.com", headers=world.headers("admin"))
    assert by_pattern.status_code == 200 and by_pattern.json()["id"] == address["id"]
    assert get(world, "/bans", "admin") == []
    assert not refused(desk, "someone@mail.spam.test")


@pytest.mark.parametrize(
    "pattern", ["not an address", "@", "com", "a@b", "eve@", "x@exa mple.com", "-bad-.example.com", ""]
)
def test_a_bad_pattern_is_refused_and_nothing_is_banned(world: World, pattern: str) -> None:
    refused = post(world, "/bans", {"pattern": pattern}, "admin", 422)
    assert refused["error"]["field"] == "pattern"
    assert get(world, "/bans", "admin") == []


def test_only_admins_keep_the_ban_list(world: World, desk: Desk) -> None:
    kept = desk.ban_sender(Actor.console(), "eve@example.com")
    for who, status in (("agent", 403), ("requester", 403), ("nobody", 401)):
        headers = world.headers(who)
        assert world.client.get(f"{API}/bans", headers=headers).status_code == status
        added = world.client.post(f"{API}/bans", json={"pattern": "x@example.com"}, headers=headers)
        assert added.status_code == status
        assert world.client.delete(f"{API}/bans/{kept.id}", headers=headers).status_code == status
    assert [ban.pattern for ban in desk.bans(Actor.console())] == ["eve@example.com"]


@pytest.mark.parametrize(
    "name", ["99999", "nobody@example.com", "99999999999999999999", "²", "not a pattern"]
)
def test_lifting_a_ban_that_is_not_there_is_not_found(world: World, name: str) -> None:
    response = world.client.delete(f"{API}/bans/{name}", headers=world.headers("admin"))
    assert response.status_code in (404, 422), response.text
    assert response.status_code == (422 if name == "not a pattern" else 404), response.text
