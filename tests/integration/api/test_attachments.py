"""Attachments over the API: upload as a comment, list, download; limits and who sees what."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.api.conftest import World

MAX_BYTES = 4096


@pytest.fixture
def environ(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        "SUPPORTBOT_DATA_DIR": str(tmp_path / "data"),
        "SUPPORTBOT_DATABASE_URL": database_url,
        "SUPPORTBOT_ATTACHMENTS_MAX_BYTES": str(MAX_BYTES),
    }


def upload(
    world: World,
    who: str,
    number: str,
    name: str,
    data: bytes,
    content_type: str = "application/pdf",
    **form: str,
) -> tuple[int, dict[str, object]]:
    response = world.client.post(
        f"/api/v1/tickets/{number}/attachments",
        files={"file": (name, data, content_type)},
        data=form,
        headers=world.headers(who),
    )
    return response.status_code, response.json()


def test_upload_then_download_returns_the_same_bytes(world: World) -> None:
    data = bytes(range(256)) * 10
    status, stored = upload(world, "requester", world.own, "invoice.pdf", data, comment="Here it is")
    assert status == 201, stored
    assert stored["sha256"] == hashlib.sha256(data).hexdigest()
    assert (stored["filename"], stored["content_type"], stored["size"]) == (
        "invoice.pdf",
        "application/pdf",
        len(data),
    )
    response = world.client.get(
        f"/api/v1/tickets/{world.own}/attachments/{stored['id']}", headers=world.headers("agent")
    )
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"].startswith('attachment; filename="invoice.pdf"')
    comments = world.client.get(
        f"/api/v1/tickets/{world.own}/comments", headers=world.headers("requester")
    ).json()
    carrier = next(c for c in comments if c["id"] == stored["comment_id"])
    assert carrier["body"] == "Here it is" and carrier["public"] is True
    assert [a["sha256"] for a in carrier["attachments"]] == [stored["sha256"]]
    listed = world.client.get(
        f"/api/v1/tickets/{world.own}/attachments", headers=world.headers("requester")
    ).json()
    assert listed == [stored]


def test_file_over_the_limit_is_refused_and_nothing_is_kept(
    world: World, snapshot: Callable[[], dict[str, int]], tmp_path: Path
) -> None:
    before = snapshot()
    status, body = upload(world, "agent", world.own, "huge.bin", b"x" * (MAX_BYTES + 1))
    assert status == 413
    assert body["error"]["field"] == "file" and str(MAX_BYTES) in body["error"]["message"]
    after = snapshot()
    # Only the audit record of the request itself is new.
    assert after.pop("events") == before.pop("events") + 1 and after == before
    files = tmp_path / "data" / "attachments"
    assert not files.exists() or not any(p.is_file() for p in files.rglob("*"))
    status, _ = upload(world, "agent", world.own, "exact.bin", b"x" * MAX_BYTES)
    assert status == 201


def test_requester_never_sees_an_internal_attachment(world: World) -> None:
    status, note = upload(world, "agent", world.own, "notes.txt", b"grumpy", "text/plain", public="false")
    assert status == 201
    url = f"/api/v1/tickets/{world.own}/attachments"
    assert world.client.get(url, headers=world.headers("requester")).json() == []
    assert [f["id"] for f in world.client.get(url, headers=world.headers("agent")).json()] == [note["id"]]
    response = world.client.get(f"{url}/{note['id']}", headers=world.headers("requester"))
    assert response.status_code == 404 and "grumpy" not in response.text
    status, _ = upload(world, "requester", world.own, "mine.txt", b"hi", "text/plain", public="false")
    assert status == 403


def test_requester_cannot_reach_another_requesters_attachments(world: World) -> None:
    status, theirs = upload(world, "other", world.others, "vpn.log", b"secret", "text/plain")
    assert status == 201
    own_url, others_url = (f"/api/v1/tickets/{n}/attachments" for n in (world.own, world.others))
    me = world.headers("requester")
    assert world.client.get(others_url, headers=me).status_code == 404
    assert world.client.get(f"{others_url}/{theirs['id']}", headers=me).status_code == 404
    # Their file's id under my own ticket's number is not a way round.
    assert world.client.get(f"{own_url}/{theirs['id']}", headers=me).status_code == 404
    status, _ = upload(world, "requester", world.others, "x.txt", b"x", "text/plain")
    assert status == 404


def test_anonymous_is_unauthenticated(world: World) -> None:
    url = f"/api/v1/tickets/{world.own}/attachments"
    assert world.client.get(url).status_code == 401
    assert world.client.get(f"{url}/1").status_code == 401
    response = world.client.post(url, files={"file": ("a.txt", b"a", "text/plain")})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("../../etc/passwd", "passwd"), ("..\\..\\boot.ini", "boot.ini"), ("/tmp/.bashrc", "bashrc")],
)
def test_filename_loses_its_path_parts(world: World, sent: str, kept: str) -> None:
    status, stored = upload(world, "agent", world.own, sent, b"data", "text/plain")
    assert status == 201 and stored["filename"] == kept
    response = world.client.get(
        f"/api/v1/tickets/{world.own}/attachments/{stored['id']}", headers=world.headers("agent")
    )
    assert f'filename="{kept}"' in response.headers["content-disposition"]


def test_content_type_is_guessed_when_the_client_does_not_know(world: World) -> None:
    status, stored = upload(world, "agent", world.own, "notes.txt", b"hello", "application/octet-stream")
    assert status == 201 and stored["content_type"] == "text/plain"


def test_unknown_attachment_is_not_found(world: World) -> None:
    response = world.client.get(
        f"/api/v1/tickets/{world.own}/attachments/999", headers=world.headers("agent")
    )
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "attachment_id"
