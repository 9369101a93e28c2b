"""Group commit: messages that arrive together share one transaction, and each still gets
its own outcome (bot/desk/group_commit.py).

A batch is made the way it forms in production: the writer is held up by the
database (another connection holds the lock it needs), callers queue behind
it, and when the lock goes the next writer takes every queued message.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import create_engine, event, select, text

from bot.config.settings import load
from bot.desk.facade import Desk
from bot.errors import StoreUnavailable, UserError
from bot.messages import Identity, Inbound
from bot.store import tables as t
from bot.store.db import Store
from tests.conftest import _truncate_all
from tests.factories import make_inbound
from tests.waiting import wait_until


@contextmanager
def writer_held(store: Store) -> Iterator[None]:
    """Another connection holds what ``receive`` needs first, until the block ends."""
    if store.dialect == "sqlite":
        holder = sqlite3.connect(str(store.url.database), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    engine = create_engine(store.url)
    with engine.connect() as conn:
        conn.execute(text("LOCK TABLE thread_refs IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            conn.rollback()
    engine.dispose()


class Sent:
    """One ``receive`` on its own thread, as an SMTP session or IMAP poller calls it."""

    def __init__(self, desk: Desk, inbound: Inbound) -> None:
        self.inbound = inbound
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(desk,), daemon=True)
        self.thread.start()

    def _run(self, desk: Desk) -> None:
        try:
            self.result = desk.receive(self.inbound)
        except BaseException as error:  # noqa: BLE001 - the test looks at it
            self.error = error

    def wait(self) -> None:
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "receive never returned"


def together(
    desk: Desk, store: Store, inbounds: list[Inbound], *, armed: Callable[[], None] = lambda: None
) -> list[Sent]:
    """The first message is written alone while the writer is held; the rest queue behind it
    and are written as one batch once the hold ends. ``armed`` runs just before that."""
    group = desk.grouped_receive
    with writer_held(store):
        first = Sent(desk, make_inbound(email="first@example.com"))
        wait_until(lambda: group.writing and group.queued == 0, what="the first message being written")
        rest = [Sent(desk, inbound) for inbound in inbounds]
        wait_until(lambda: group.queued == len(inbounds), what="the others queued behind it")
        armed()
    for sent in [first, *rest]:
        sent.wait()
    assert first.error is None, first.error
    return rest


def stored_keys(store: Store) -> set[str]:
    with store.read() as session:
        return set(session.scalars(select(t.ThreadRef.external_id).where(t.ThreadRef.direction == "in")))


def test_messages_arriving_together_share_one_transaction(desk: Desk, store: Store) -> None:
    inbounds = [make_inbound(email=f"c{n}@example.com", subject=f"Batch {n}") for n in range(5)]
    sent = together(desk, store, inbounds)
    assert [s.error for s in sent] == [None] * 5
    receipts = [s.result for s in sent]
    assert all(r.created for r in receipts)
    assert len({r.ticket_number for r in receipts}) == 5
    assert (desk.grouped_receive.batches, desk.grouped_receive.grouped) == (1, 5)
    assert {i.key for i in inbounds} <= stored_keys(store)
    # Each ticket holds its own message and was acknowledged on its own.
    with store.read() as session:
        acknowledged = session.scalars(
            select(t.Notification.recipient).where(t.Notification.template == "ticket_opened")
        ).all()
    assert {f"c{n}@example.com" for n in range(5)} <= set(acknowledged)


def test_a_bad_message_fails_alone_and_its_neighbours_are_stored(
    desk: Desk, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    good = [make_inbound(email=f"good{n}@example.com") for n in range(3)]
    bad = make_inbound(sender=Identity(email=None, name="Nobody"))  # no address: refused on its data
    caplog.set_level(logging.INFO, logger="bot.desk.group_commit")
    sent = together(desk, store, [good[0], bad, good[1], good[2]])
    assert "a batch of 4 messages failed" in caplog.text  # it was tried as one batch first
    assert isinstance(sent[1].error, UserError)
    assert [s.error for s in (sent[0], sent[2], sent[3])] == [None] * 3
    assert {i.key for i in good} <= stored_keys(store)
    assert bad.key not in stored_keys(store)


def test_one_key_twice_in_a_batch_is_stored_once(desk: Desk, store: Store) -> None:
    original = make_inbound(email="twice@example.com")
    sent = together(desk, store, [original, make_inbound(email="other@example.com"), original])
    first, _, again = (s.result for s in sent)
    assert first.created and not first.duplicate
    assert again.duplicate and again.ticket_number == first.ticket_number
    with store.read() as session:
        count = session.scalars(select(t.Comment.id).where(t.Comment.external_id == original.key)).all()
    assert len(count) == 1


def test_an_outage_in_mid_batch_fails_every_message_and_stores_none(postgres_desk: Desk) -> None:
    """The connection dies after the batch's second message was written: every caller hears
    the store is unavailable (SMTP's 451, so senders retry) and nothing of the batch is kept."""
    desk, store = postgres_desk, postgres_desk.store
    admin = create_engine(store.url, isolation_level="AUTOCOMMIT")
    comments = 0

    def cut_after_second(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal comments
        if statement.startswith("INSERT INTO comments"):
            comments += 1
            if comments == 2:  # the batch's second message: the server goes away under it
                pid = conn.connection.dbapi_connection.info.backend_pid
                with admin.connect() as killer:
                    killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    inbounds = [make_inbound(email=f"lost{n}@example.com") for n in range(4)]
    sent = together(
        desk,
        store,
        inbounds,
        armed=lambda: event.listen(store.engine, "before_cursor_execute", cut_after_second),
    )
    event.remove(store.engine, "before_cursor_execute", cut_after_second)
    admin.dispose()
    assert all(isinstance(s.error, StoreUnavailable) for s in sent), [s.error for s in sent]
    assert not {i.key for i in inbounds} & stored_keys(store)
    # The store is back: the senders' retries are stored, once each.
    for inbound in inbounds:
        assert desk.receive(inbound).created
    assert {i.key for i in inbounds} <= stored_keys(store)


@pytest.fixture
def postgres_desk(postgres_url: str, tmp_path: Any, clock: Any) -> Iterator[Desk]:
    """Only PostgreSQL can lose its connection in mid-transaction (SQLite is a file)."""
    _truncate_all(postgres_url)
    settings = load(
        None, {"SUPPORTBOT_DATA_DIR": str(tmp_path / "data"), "SUPPORTBOT_DATABASE_URL": postgres_url}
    )
    store = Store(settings.database_url)
    yield Desk(store, clock, settings)
    store.dispose()
