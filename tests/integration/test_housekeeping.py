"""Timed jobs through the desk: auto-close, expiry and the audit export, each once however often run."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.config.settings import load
from bot.desk.facade import Desk
from bot.messages import Identity
from bot.model import Actor, Role, Status
from bot.notify.outbox import list_notifications
from bot.store import tables as t
from bot.store.db import Store
from bot.tickets.housekeeping import EXPORT_LAG
from tests.factories import make_inbound, make_ticket
from tests.fakes import FakeClock

LAG = EXPORT_LAG + timedelta(minutes=1)


def _notices(store, template: str | None = None):
    found = reversed(list_notifications(store, prefix="SUP", limit=10_000))
    return [n for n in found if template is None or n.template == template]


def _resolved(desk, agent, **inbound: Any) -> str:
    number = make_ticket(desk, **inbound)
    desk.transition(agent, number, Status.RESOLVED)
    return number


def _event_ids(store) -> list[int]:
    with store.read() as session:
        return list(session.scalars(select(t.Event.id).order_by(t.Event.id)))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _exported_ids(folder: Path) -> list[int]:
    return sorted(row["id"] for path in folder.glob("audit-*.jsonl") for row in _read_jsonl(path))


def _at_once(*jobs: Callable[[], Any]) -> list[Any]:
    """Run the jobs in threads released together; their results, or the first error raised."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(index: int, job: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = job()
        except BaseException as error:  # re-raised below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


# -- auto-close ---------------------------------------------------------------------


def test_ticket_resolved_eight_days_ago_is_closed_with_one_note_and_no_status_notice(
    desk, agent, store, clock
):
    number = _resolved(desk, agent)
    clock.advance(days=8)
    assert desk.auto_close() == [number]
    assert desk.visible_ticket(Actor.console(), number).ticket.status == "closed"
    [event] = [
        e
        for e in desk.visible_ticket(Actor.console(), number).events
        if (e.after or {}).get("status") == "closed"
    ]
    assert (event.kind, event.actor, event.after) == (
        "status_changed",
        "system",
        {"status": "closed", "reason": "auto-closed after 7 days resolved"},
    )
    to_requester = [n.template for n in _notices(store) if n.recipient == "customer@example.com"]
    assert to_requester == ["ticket_opened", "ticket_resolved", "auto_closed"]


def test_ticket_resolved_six_days_ago_stays_resolved(desk, agent, clock):
    number = _resolved(desk, agent)
    clock.advance(days=6)
    assert desk.auto_close() == []
    assert desk.visible_ticket(Actor.console(), number).ticket.status == "resolved"


def test_reopened_ticket_is_not_closed(desk, agent, clock):
    number = _resolved(desk, agent)
    clock.advance(days=1)
    desk.transition(agent, number, Status.OPEN)
    clock.advance(days=8)
    assert desk.auto_close() == []
    assert desk.visible_ticket(Actor.console(), number).ticket.status == "open"


def test_running_auto_close_twice_closes_and_notifies_once(desk, agent, store, clock):
    numbers = [_resolved(desk, agent) for _ in range(3)]
    clock.advance(days=7)
    assert desk.auto_close() == numbers
    before = _notices(store)
    assert desk.auto_close() == []
    assert _notices(store) == before
    assert len(_notices(store, "auto_closed")) == 3


def test_ticket_closed_again_after_a_reopen_gets_a_second_note(desk, agent, store, clock):
    number = _resolved(desk, agent)
    clock.advance(days=8)
    desk.auto_close()
    desk.transition(agent, number, Status.OPEN)
    desk.transition(agent, number, Status.RESOLVED)
    clock.advance(days=8)
    assert desk.auto_close() == [number]
    assert len(_notices(store, "auto_closed")) == 2


def test_auto_close_does_nothing_when_the_workflow_keeps_resolved_tickets_open(store, clock, environ, agent):
    strict = Desk(
        store,
        clock,
        load(
            None, environ | {"SUPPORTBOT_STATUS_TRANSITIONS": '{"open": ["resolved"], "resolved": ["open"]}'}
        ),
    )
    number = _resolved(strict, agent)
    clock.advance(days=30)
    assert strict.auto_close() == []
    assert strict.visible_ticket(Actor.console(), number).ticket.status == "resolved"


def test_auto_close_days_is_configurable(store, clock, environ, agent):
    patient = Desk(store, clock, load(None, environ | {"SUPPORTBOT_AUTO_CLOSE_DAYS": "14"}))
    number = _resolved(patient, agent)
    clock.advance(days=8)
    assert patient.auto_close() == []
    clock.advance(days=6)
    assert patient.auto_close() == [number]


def test_slack_requester_hears_of_the_auto_close_by_dm(store, clock, environ, agent):
    chatty = Desk(
        store,
        clock,
        load(
            None,
            environ
            | {"SUPPORTBOT_SLACK_BOT_TOKEN": "xoxb-test", "SUPPORTBOT_SLACK_SIGNING_SECRET": "secret"},
        ),
    )
    inbound = make_inbound(channel="slack", sender=Identity(slack_user_id="U0CASEY", name="Casey"))
    number = chatty.receive(inbound).ticket_number
    chatty.transition(agent, number, Status.RESOLVED)
    clock.advance(days=8)
    assert chatty.auto_close() == [number]
    [note] = _notices(store, "auto_closed")
    assert (note.channel, note.recipient) == ("slack", "U0CASEY")


def test_two_processes_auto_closing_at_once_close_each_ticket_once(desk, agent, store, clock, settings):
    numbers = [_resolved(desk, agent) for _ in range(20)]
    clock.advance(days=8)
    other = Store(settings.database_url)
    try:
        first, second = _at_once(desk.auto_close, Desk(other, clock, settings).auto_close)
    finally:
        other.dispose()
    assert sorted(first + second) == sorted(numbers)
    assert len(_notices(store, "auto_closed")) == 20


# -- expiry -------------------------------------------------------------------------


def test_old_unresolved_tickets_are_flagged_once_and_reported_to_their_team(desk, admin, agent, store, clock):
    desk.add_person(admin, "boss@support.test", role=Role.ADMIN)
    ops = make_ticket(desk, team="Ops")
    loose = make_ticket(desk, subject="No team")
    done = _resolved(desk, agent)
    clock.advance(days=2)
    young = make_ticket(desk, subject="Newer")
    clock.advance(days=5, minutes=1)

    assert desk.flag_expired() == [ops, loose]
    reports = [(n.ticket, n.recipient) for n in _notices(store, "tickets_expired")]
    assert reports == [(ops, "agent@support.test"), (loose, "boss@support.test")]
    assert [e.kind for e in desk.visible_ticket(Actor.console(), ops).events].count("expired") == 1
    assert not [e for e in desk.visible_ticket(Actor.console(), done).events if e.kind == "expired"]

    before = _notices(store)
    assert desk.flag_expired() == []
    assert _notices(store) == before
    clock.advance(days=2)
    assert desk.flag_expired() == [young]


# -- audit export -------------------------------------------------------------------


def test_export_writes_the_new_events_once_then_only_later_ones(desk, agent, store, clock, settings):
    number = make_ticket(desk)
    desk.transition(agent, number, Status.IN_PROGRESS)
    clock.advance(minutes=LAG.total_seconds() / 60)
    first = desk.export_audit()

    assert first is not None and first.parent == settings.data_path / "audit"
    assert (first.parent.stat().st_mode & 0o777, first.stat().st_mode & 0o777) == (0o700, 0o600)
    assert re.fullmatch(r"audit-\d{4}-\d\d-\d\dT\d{6}Z\.jsonl", first.name)
    rows = _read_jsonl(first)
    assert [row["id"] for row in rows] == _event_ids(store)
    assert set(rows[-1]) == {"id", "ticket", "actor", "kind", "before", "after", "created_at"}
    assert (rows[-1]["ticket"], rows[-1]["actor"], rows[-1]["kind"]) == (
        number,
        "agent@support.test",
        "status_changed",
    )
    assert rows[-1]["before"] == {"status": "open"}
    assert rows[-1]["created_at"].startswith("2026-03-02T09:00:00")

    assert desk.export_audit() is None
    seen = _event_ids(store)
    desk.comment(agent, number, "On it.")
    clock.advance(days=1)
    second = desk.export_audit()
    assert second is not None and second != first
    assert [row["id"] for row in _read_jsonl(second)] == [i for i in _event_ids(store) if i not in seen]
    assert desk.export_audit() is None
    assert sorted((settings.data_path / "audit").iterdir()) == sorted([first, second])


def test_events_younger_than_the_lag_wait_for_the_next_export(desk, agent, store, clock, settings):
    number = make_ticket(desk)
    clock.advance(minutes=LAG.total_seconds() / 60)
    desk.transition(agent, number, Status.IN_PROGRESS)  # just now: may still have company in flight
    early = _read_jsonl(desk.export_audit())
    assert "status_changed" not in [row["kind"] for row in early]
    clock.advance(days=1)
    late = _read_jsonl(desk.export_audit())
    assert [row["kind"] for row in late] == ["status_changed"]
    assert _exported_ids(settings.data_path / "audit") == _event_ids(store)


def test_export_with_nothing_new_writes_no_file_and_keeps_its_schedule(desk, agent, clock, settings):
    desk.receive(make_inbound())
    clock.advance(minutes=LAG.total_seconds() / 60)
    assert desk.export_audit() is not None
    clock.advance(days=1)
    assert desk.export_audit() is None  # due, nothing new
    desk.comment(agent, "SUP-1", "Still looking.")
    clock.advance(hours=2)
    assert desk.export_audit() is None  # new events wait for the next period
    clock.advance(hours=22)
    assert desk.export_audit() is not None
    assert len(list((settings.data_path / "audit").glob("audit-*.jsonl"))) == 2


def test_two_processes_exporting_at_once_write_each_event_once(desk, store, clock, settings):
    """First while the job mark does not exist yet, then again when an existing mark is due."""
    folder = settings.data_path / "audit"
    desk.receive(make_inbound())
    other = Store(settings.database_url)
    # A second apart, so two exports of the same events could not hide in one file name.
    later = FakeClock(clock.now() + timedelta(seconds=1))
    try:
        for _ in range(2):
            _add_events(store, clock.now(), 5000)  # a log long enough that the exports overlap
            for each in (clock, later):
                # A day and a second: whichever process set the mark last round (the later
                # clock, maybe), both are due now; a day alone left the earlier one not due,
                # and when it held the lock as it found so, neither exported.
                each.advance(days=1, seconds=1)
            results = _at_once(desk.export_audit, Desk(other, later, settings).export_audit)
            assert len([path for path in results if path is not None]) == 1
            assert _exported_ids(folder) == _event_ids(store)
    finally:
        other.dispose()
    assert len(list(folder.glob("audit-*.jsonl"))) == 2
    assert not list(folder.glob(".*"))  # no temporary files left


def _add_events(store, at, count: int) -> None:
    with store.transaction() as session:
        session.add_all(
            t.Event(ticket_id=None, actor="system", kind="load", after={"n": n}, created_at=at)
            for n in range(count)
        )
