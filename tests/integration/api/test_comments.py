"""Comments over the API: a retried POST with the same ``Idempotency-Key`` writes nothing twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
from sqlalchemy import func, select, text

from bot.desk.facade import Desk
from bot.model import Actor
from bot.store import tables as t
from bot.store.db import Store
from tests.fakes import FakeClock
from tests.integration.api.conftest import World
from tests.waiting import wait_until


def written(snapshot: Callable[[], dict[str, int]]) -> dict[str, int]:
    """Row counts but the audit log's: every API request is audited, a replayed one too."""
    return {table: count for table, count in snapshot().items() if table != "events"}


def comments_on(world: World, number: str) -> list[tuple[int, str]]:
    listed = world.client.get(f"/api/v1/tickets/{number}/comments", headers=world.headers("agent"))
    return [(comment["id"], comment["body"]) for comment in listed.json()]


def post(world: World, who: str, number: str, body: str, key: str | None, **extra: object) -> httpx.Response:
    headers = world.headers(who) | ({"Idempotency-Key": key} if key is not None else {})
    return world.client.post(
        f"/api/v1/tickets/{number}/comments", json={"body": body, **extra}, headers=headers
    )


def test_a_retry_with_the_same_key_answers_with_the_first_comment_and_adds_nothing(
    world: World, clock: FakeClock, snapshot: Callable[[], dict[str, int]]
) -> None:
    first = post(world, "requester", world.own, "Still broken.", "k-1")
    assert first.status_code == 201, first.text
    before = written(snapshot)
    clock.advance(minutes=3)
    again = post(world, "requester", world.own, "Still broken.", "k-1")
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert written(snapshot) == before  # no comment, notification or thread ref more
    assert [body for _, body in comments_on(world, world.own)].count("Still broken.") == 1


def test_a_key_is_its_persons_own_and_no_key_means_no_deduplication(world: World) -> None:
    mine = post(world, "agent", world.own, "Checking.", "same-key")
    theirs = post(world, "admin", world.own, "Checking.", "same-key")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    twice = [post(world, "agent", world.own, "Again.", None).json()["id"] for _ in range(2)]
    assert twice[0] != twice[1]


def test_an_internal_note_is_replayed_as_well(world: World) -> None:
    note = post(world, "agent", world.own, "Customer is grumpy", "note-1", public=False)
    again = post(world, "agent", world.own, "Customer is grumpy", "note-1", public=False)
    assert note.status_code == again.status_code == 201
    assert again.json()["id"] == note.json()["id"] and again.json()["public"] is False


def test_a_key_used_again_for_a_different_comment_is_a_conflict_and_writes_nothing(
    world: World, desk: Desk, agent: Actor, snapshot: Callable[[], dict[str, int]]
) -> None:
    first = post(world, "agent", world.own, "Rebooted it.", "k-2")
    assert first.status_code == 201
    before = written(snapshot)
    for number, body, public in (
        (world.own, "Rebooted it twice.", True),
        (world.own, "Rebooted it.", False),
        (world.others, "Rebooted it.", True),
    ):
        refused = post(world, "agent", number, body, "k-2", public=public)
        assert refused.status_code == 409, (number, body, refused.text)
        assert refused.json()["error"]["field"] == "idempotency-key"
    assert written(snapshot) == before


def test_a_retry_after_a_merge_answers_with_the_comment_where_it_moved(
    world: World, desk: Desk, agent: Actor
) -> None:
    first = post(world, "agent", world.own, "Same as the VPN one.", "k-3")
    desk.merge(agent, world.own, world.others)
    again = post(world, "agent", world.own, "Same as the VPN one.", "k-3")
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert [body for _, body in comments_on(world, world.others)].count("Same as the VPN one.") == 1


def test_a_creates_key_is_not_a_comments_key(world: World) -> None:
    headers = world.headers("requester") | {"Idempotency-Key": "shared"}
    created = world.client.post(
        "/api/v1/tickets", json={"subject": "Phone", "description": "Dead."}, headers=headers
    )
    number = created.json()["number"]
    commented = post(world, "requester", number, "Dead.", "shared")
    assert commented.status_code == 201
    assert len(comments_on(world, number)) == 2


def test_a_bad_key_is_refused_by_name(world: World) -> None:
    refused = post(world, "agent", world.own, "Hello", "x" * 201)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "idempotency-key"


def test_two_requests_racing_with_one_key_store_one_comment(world: World, store: Store, desk: Desk) -> None:
    """The first request is still in its transaction (its comment and thread ref written, not
    committed) when the second arrives: the second waits on the first's locks and, once it
    commits, answers with its comment (on PostgreSQL through the unique index refusing the
    second thread ref and the retry reading the winner's; on SQLite by queuing on the write
    lock and finding it)."""
    person = desk.actor("agent@support.test").person_id
    answers: list[httpx.Response] = []
    with store.transaction() as session:
        ticket_id = int(world.own.split("-")[1])
        winner = t.Comment(
            ticket_id=ticket_id,
            author_id=person,
            body="Racing.",
            public=True,
            channel="api",
            external_id=f"api-comment:{person}:race",
            created_at=desk.clock.now(),
        )
        session.add(winner)
        session.flush()
        session.add(
            t.ThreadRef(
                channel="api",
                external_id=winner.external_id,
                ticket_id=ticket_id,
                comment_id=winner.id,
                direction="in",
                created_at=desk.clock.now(),
            )
        )
        session.flush()
        loser = threading.Thread(
            target=lambda: answers.append(post(world, "agent", world.own, "Racing.", "race"))
        )
        loser.start()
        _wait_until_blocked(store, session.connection())
        winner_id = winner.id
    loser.join(timeout=60)
    assert not loser.is_alive()
    [answer] = answers
    assert answer.status_code == 201, answer.text
    assert answer.json()["id"] == winner_id
    with store.read() as session:
        stored = select(func.count()).select_from(t.Comment).where(t.Comment.body == "Racing.")
        assert session.scalar(stored) == 1


def _wait_until_blocked(store: Store, connection: object) -> None:
    """Until another session waits on a lock (PostgreSQL), or a moment (SQLite, where the
    waiting cannot be seen: the outcome is the same either way)."""
    if store.dialect != "postgresql":
        time.sleep(0.5)
        return
    with store.engine.connect() as watcher:
        wait_until(
            lambda: watcher.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")),
            seconds=30,
            what="the second request waiting on the first's locks",
            interval=0.02,
        )
