"""The sharing endpoints of /api/v1: every endpoint x requester, agent, admin and anonymous."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.desk.facade import Desk
from bot.model import Actor
from bot.sharing.protocol import new_secret
from bot.sharing.service import Sharing
from bot.store import tables as t
from bot.store.db import Store
from tests.integration.api.conftest import World


@pytest.fixture
def environ(tmp_path: Path, database_url: str) -> dict[str, str]:
    """A help desk partners reach over https, as sharing wants it."""
    return {
        "SUPPORTBOT_DATA_DIR": str(tmp_path / "data"),
        "SUPPORTBOT_DATABASE_URL": database_url,
        "SUPPORTBOT_SHARING_PUBLIC_URL": "https://help.example.org/sharing",
    }


@dataclass(frozen=True)
class Agreements:
    accepted: int  # one we sent, accepted by the partner; the requester's ticket is shared under it
    received: int  # an invitation we got, not answered yet


@pytest.fixture
def agreements(world: World, desk: Desk, admin: Actor, store: Store) -> Agreements:
    sharing = Sharing(desk)
    sent = sharing.invite(admin, "https://globex.example/sharing")
    with store.read() as session:
        key = session.scalars(
            select(t.SharingAgreement.access_key).where(t.SharingAgreement.id == sent.id)
        ).one()
    sharing.change_agreement(f"{sent.uuid}:{key}", sent.uuid, {"status": "accepted", "name": "Globex"})
    sharing.share(admin, world.own, sent.id)
    uuid = new_secret()
    invitation = {"uuid": uuid, "access_key": new_secret(), "sender_url": "https://acme.example/sharing"}
    sharing.receive_invitation(None, uuid, invitation)
    received = next(a.id for a in sharing.agreements(admin) if a.uuid == uuid)
    return Agreements(sent.id, received)


ADMINS = {"admin": 200}
Case = tuple[str, str, dict[str, Any] | None, dict[str, int]]
CASES: list[Case] = [
    ("GET", "/sharing/agreements", None, ADMINS),
    ("POST", "/sharing/agreements", {"url": "https://globex.example/sharing"}, {"admin": 201}),
    ("GET", "/sharing/agreements/{accepted}", None, ADMINS),
    ("POST", "/sharing/agreements/{received}/accept", None, ADMINS),
    ("POST", "/sharing/agreements/{received}/decline", None, ADMINS),
    ("POST", "/sharing/agreements/{accepted}/deactivate", None, ADMINS),
    ("DELETE", "/sharing/invitations/{received}", None, ADMINS),
    ("DELETE", "/sharing/invitations", None, ADMINS),
    ("GET", "/tickets/{n}/shares", None, {"agent": 200, "admin": 200}),
    ("POST", "/tickets/{n}/shares", {"agreement": "{accepted}"}, {"agent": 201, "admin": 201}),
    ("DELETE", "/tickets/{n}/shares/{accepted}", None, {"agent": 200, "admin": 200}),
]


@pytest.mark.parametrize("who", ["requester", "agent", "admin", "anonymous"])
@pytest.mark.parametrize(("method", "path", "body", "allowed"), CASES, ids=lambda v: str(v)[:40])
def test_sharing_role_matrix(
    world: World,
    agreements: Agreements,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    allowed: dict[str, int],
    who: str,
) -> None:
    ids = {"{accepted}": agreements.accepted, "{received}": agreements.received}
    url = "/api/v1" + path.replace("{n}", world.own)
    for name, value in ids.items():
        url = url.replace(name, str(value))
    if body and body.get("agreement") in ids:
        body = {"agreement": ids[body["agreement"]]}
    response = world.client.request(method, url, json=body, headers=world.headers(who))
    expected = 401 if who == "anonymous" else allowed.get(who, 403)
    assert response.status_code == expected, response.text
    if expected >= 400:
        assert response.json()["error"]["message"]


def test_agreement_answers_and_shares_say_what_is_wrong(world: World, agreements: Agreements) -> None:
    admin = world.headers("admin")
    accepted, received = agreements.accepted, agreements.received
    refused = world.client.post(f"/api/v1/sharing/agreements/{accepted}/accept", headers=admin)
    assert refused.status_code == 409
    assert "only an invitation we received" in refused.json()["error"]["message"]
    unknown = world.client.get("/api/v1/sharing/agreements/999", headers=admin)
    assert unknown.status_code == 404
    wrong_way = world.client.post(
        f"/api/v1/tickets/{world.own}/shares", json={"agreement": received}, headers=admin
    )
    assert wrong_way.status_code == 409 and wrong_way.json()["error"]["field"] == "agreement"
    bad_url = world.client.post("/api/v1/sharing/agreements", json={"url": "ftp://x"}, headers=admin)
    assert bad_url.status_code == 422 and bad_url.json()["error"]["field"] == "url"
    listed = world.client.get(f"/api/v1/tickets/{world.own}/shares", headers=admin).json()
    assert listed == [
        {
            "agreement": accepted,
            "partner": "Globex",
            "ticket": world.own,
            "uuid": listed[0]["uuid"],
            "side": "sharer",
            "detached_at": None,
        }
    ]


def test_an_admin_dismisses_one_invitation_or_clears_them_all_and_nobody_else_can(
    world: World, agreements: Agreements, desk: Desk, admin: Actor, store: Store
) -> None:
    sharing = Sharing(desk)
    for host in ("initech.example", "umbrella.example"):
        uuid = new_secret()
        body = {"uuid": uuid, "access_key": new_secret(), "sender_url": f"https://{host}/sharing"}
        assert sharing.receive_invitation(None, uuid, body, "198.51.100.9") is True
    waiting = [a.id for a in sharing.agreements(admin) if a.side == "receiver"]
    assert len(waiting) == 3
    for who in ("requester", "agent"):
        for method, path in (
            ("DELETE", f"/sharing/invitations/{waiting[0]}"),
            ("DELETE", "/sharing/invitations"),
        ):
            response = world.client.request(method, "/api/v1" + path, headers=world.headers(who))
            assert response.status_code == 403, response.text
    assert [a.id for a in sharing.agreements(admin) if a.side == "receiver"] == waiting, "all still there"

    admin_headers = world.headers("admin")
    dismissed = world.client.delete(f"/api/v1/sharing/invitations/{waiting[1]}", headers=admin_headers)
    assert dismissed.status_code == 200, dismissed.text
    assert (dismissed.json()["status"], dismissed.json()["invited_from"]) == ("pending", "198.51.100.9")
    again = world.client.delete(f"/api/v1/sharing/invitations/{waiting[1]}", headers=admin_headers)
    assert again.status_code == 404
    ours = world.client.delete(f"/api/v1/sharing/invitations/{agreements.accepted}", headers=admin_headers)
    assert ours.status_code == 409 and "only an invitation we received" in ours.json()["error"]["message"]

    cleared = world.client.delete("/api/v1/sharing/invitations", headers=admin_headers)
    assert cleared.status_code == 200 and cleared.json() == {"dismissed": 2}
    assert [a.id for a in sharing.agreements(admin)] == [agreements.accepted], "the sent one stays"
    with store.read() as session:
        kinds = list(session.scalars(select(t.Event.kind).where(t.Event.kind.like("sharing_invitation%"))))
        queued = list(
            session.scalars(select(t.Notification.template).where(t.Notification.channel == "sharing"))
        )
    assert (
        kinds.count("sharing_invitation_dismissed") == 1 and kinds.count("sharing_invitations_cleared") == 1
    )
    assert "PUT agreements" not in queued, "the senders are not told"
