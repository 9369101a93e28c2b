"""The outbox: delivered after commit, retried with backoff, parked when hopeless, never sent twice."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import select

from bot.config.settings import OutboxSettings
from bot.notify.outbox import Dispatcher, list_notifications, retry
from bot.store import tables as t
from tests.factories import make_inbound
from tests.fakes import RecordingSender

POLICY = OutboxSettings(max_attempts=3, backoff_seconds=30, backoff_max_seconds=100, lease_seconds=60)
ROOT = Path(__file__).resolve().parents[2]


def _rows(store):
    with store.read() as session:
        return {row.id: row for row in session.scalars(select(t.Notification).order_by(t.Notification.id))}


def test_notifications_are_sent_once_and_marked_sent(desk, store, clock):
    desk.receive(make_inbound())
    sender = RecordingSender()
    dispatcher = Dispatcher(store, clock, {"email": sender}, POLICY)
    assert dispatcher.run_once().sent == 1
    assert dispatcher.run_once().handled == 0
    [outbound] = sender.sent
    assert outbound.template == "ticket_opened" and outbound.recipient == "customer@example.com"
    assert outbound.context["ticket"]["number"] == "SUP-1" and outbound.message_id.startswith("<sup-1.")
    [row] = _rows(store).values()
    assert (row.status, row.attempts, row.sent_at) == ("sent", 1, clock.now())


def test_failures_back_off_then_park_as_dead_and_can_be_retried(desk, store, clock):
    desk.receive(make_inbound())
    sender = RecordingSender(failures=3)
    dispatcher = Dispatcher(store, clock, {"email": sender}, POLICY)
    assert dispatcher.run_once().retried == 1
    [row] = _rows(store).values()
    assert row.status == "pending"
    assert (row.next_attempt_at - clock.now()).total_seconds() == 30
    clock.advance(seconds=29)
    assert dispatcher.run_once().handled == 0, "retried before its backoff ran out"
    clock.advance(seconds=1)
    assert dispatcher.run_once().retried == 1
    assert (_rows(store)[row.id].next_attempt_at - clock.now()).total_seconds() == 60
    clock.advance(seconds=60)
    assert dispatcher.run_once().dead == 1
    [dead] = list_notifications(store, prefix="SUP", status="dead")
    assert dead.attempts == 3 and "relay unavailable" in dead.last_error
    clock.advance(hours=1)
    assert dispatcher.run_once().handled == 0
    assert retry(store, clock) == 1
    assert dispatcher.run_once().sent == 1 and len(sender.sent) == 1


def test_permanent_failure_is_dead_at_once(desk, store, clock):
    desk.receive(make_inbound())
    dispatcher = Dispatcher(store, clock, {"email": RecordingSender(failures=1, permanent=True)}, POLICY)
    assert dispatcher.run_once().dead == 1


def test_retry_after_from_the_channel_is_honoured(desk, store, clock):
    desk.receive(make_inbound())
    dispatcher = Dispatcher(store, clock, {"email": RecordingSender(failures=1, retry_after=90)}, POLICY)
    dispatcher.run_once()
    [row] = _rows(store).values()
    assert (row.next_attempt_at - clock.now()).total_seconds() == 90


def test_channel_without_a_sender_is_parked_with_a_reason(desk, store, clock):
    desk.receive(make_inbound())
    assert Dispatcher(store, clock, {}, POLICY).run_once().dead == 1
    [row] = _rows(store).values()
    assert "no sender is configured for channel 'email'" in row.last_error


def test_killed_dispatcher_resends_after_restart(desk, store, clock, settings):
    for _ in range(3):
        desk.receive(make_inbound())
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.integration.dispatch_and_die",
            settings.database_url,
            clock.now().isoformat(),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert {row.status for row in _rows(store).values()} == {"sending"}
    sender = RecordingSender()
    restarted = Dispatcher(store, clock, {"email": sender}, POLICY)
    assert restarted.run_once().handled == 0, "claimed rows were taken before their lease ran out"
    clock.advance(seconds=OutboxSettings().lease_seconds + 1)  # the child's lease
    assert restarted.run_once().sent == 3
    assert {row.status for row in _rows(store).values()} == {"sent"}
    assert sorted(o.notification_id for o in sender.sent) == sorted(_rows(store))


def test_sent_notification_is_never_pending_again(desk, store, clock):
    """A slow dispatcher whose lease ran out must not undo the work of the one that took over."""
    desk.receive(make_inbound())
    winner = RecordingSender()
    rescuer = Dispatcher(store, clock, {"email": winner}, POLICY)

    class SlowThenFailing:
        def send(self, outbound):
            clock.advance(seconds=POLICY.lease_seconds + 1)
            assert rescuer.run_once().sent == 1
            raise OSError("connection reset after a long stall")

    stale = Dispatcher(store, clock, {"email": SlowThenFailing()}, POLICY)
    stale.run_once()
    [row] = _rows(store).values()
    assert row.status == "sent" and row.claim_token is None
    clock.advance(days=1)
    assert rescuer.run_once().handled == 0 and stale.run_once().handled == 0
    assert _rows(store)[row.id].status == "sent" and len(winner.sent) == 1


def test_concurrent_dispatchers_send_each_notification_once(desk, store, clock):
    for n in range(30):  # thirty customers: one sender would meet the acknowledgement limit
        desk.receive(make_inbound(email=f"customer{n}@example.com"))
    sender = RecordingSender()
    lock = threading.Lock()

    class Shared:
        def send(self, outbound):
            with lock:
                sender.send(outbound)

    policy = OutboxSettings(batch_size=5)
    dispatchers = [Dispatcher(store, clock, {"email": Shared()}, policy) for _ in range(4)]
    threads = [threading.Thread(target=d.run_until_idle) for d in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [o.notification_id for o in sender.sent]
    assert len(ids) == 30 and len(set(ids)) == 30


def test_the_same_change_never_queues_a_second_copy(desk, store, clock):
    from bot.notify.outbox import enqueue

    receipt = desk.receive(make_inbound())
    with store.transaction() as session:
        enqueue(
            session,
            now=clock.now(),
            channel="email",
            recipient="x@example.com",
            template="ticket_opened",
            context={},
            dedupe_key=f"ticket_opened:{receipt.ticket_id}",
        )
    assert len(_rows(store)) == 1


def test_rows_late_in_a_slow_batch_are_not_sent_twice(desk, store, clock):
    """The first send outlasts the batch's lease and another dispatcher takes over the rest."""
    desk.receive(make_inbound())
    desk.receive(make_inbound())
    rescuer_sender = RecordingSender()
    rescuer = Dispatcher(store, clock, {"email": rescuer_sender}, POLICY)
    slow_sent = []

    class Slow:
        def send(self, outbound):
            if not slow_sent:
                clock.advance(seconds=POLICY.lease_seconds + 1)
                rescuer.run_once()
            slow_sent.append(outbound.notification_id)

    Dispatcher(store, clock, {"email": Slow()}, POLICY).run_once()
    rescued = [o.notification_id for o in rescuer_sender.sent]
    assert len(slow_sent) == 1, "the slow dispatcher went on sending rows it no longer held"
    assert sorted(slow_sent + rescued) == [1, 1, 2]  # only the row mid-send could go twice
    assert {row.status for row in _rows(store).values()} == {"sent"}


def test_a_notification_that_keeps_killing_its_dispatcher_is_parked(desk, store, clock):
    desk.receive(make_inbound())
    policy = OutboxSettings(max_attempts=2, lease_seconds=60)
    for _ in range(2):  # each claim "dies": the rows stay in sending until the lease runs out
        assert len(Dispatcher(store, clock, {}, policy).claim()) == 1
        clock.advance(seconds=61)
    assert Dispatcher(store, clock, {"email": RecordingSender()}, policy).run_once().handled == 0
    [row] = _rows(store).values()
    assert row.status == "dead" and "stopped while sending" in row.last_error
