"""Several processes sweeping the time-based rules of one PostgreSQL database: each rule fires
once per ticket and episode, whichever process gets there first."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.desk.facade import Desk
from bot.model import Actor
from bot.store import tables as t
from bot.store.db import Store
from tests.factories import make_ticket
from tests.fakes import FakeClock

ROOT = Path(__file__).resolve().parents[3]
TICKETS = 200

FOLLOW_UP = {
    "name": "Follow up an hour after opening",
    "trigger": {"on": "time", "since": "created", "after": "1h"},
    "actions": [
        {"do": "add_tags", "tags": ["followed-up"]},
        {"do": "send_email", "to": "requester", "template": "automation_notice"},
    ],
}


def _sweep_in_processes(database_url: str, at: datetime, folder: Path, processes: int = 3) -> list[int]:
    go = folder / "go"
    go.unlink(missing_ok=True)
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.sweep_automations",
                database_url,
                str(folder / f"d{n}"),
                at.isoformat(),
                str(go),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(processes)
    ]
    go.touch()
    fired: list[int] = []
    for child in children:
        out, err = child.communicate(timeout=600)
        assert child.returncode == 0, err
        fired.append(int(out.split()[-1]))
    return fired


def _counts(store: Store, rule_id: int) -> dict[str, int]:
    with store.read() as session:

        def count(statement) -> int:
            return session.scalar(statement) or 0

        tag = select(t.Tag.id).where(t.Tag.name == "followed-up").scalar_subquery()
        return {
            "firings": count(
                select(func.count())
                .select_from(t.AutomationFiring)
                .where(t.AutomationFiring.rule_id == rule_id)
            ),
            "applied": count(
                select(func.count())
                .select_from(t.AutomationRun)
                .where(t.AutomationRun.rule_id == rule_id, t.AutomationRun.outcome == "applied")
            ),
            "ran on tickets": count(
                select(func.count(func.distinct(t.AutomationRun.ticket_id))).where(
                    t.AutomationRun.rule_id == rule_id
                )
            ),
            "tagged": count(
                select(func.count()).select_from(t.ticket_tags).where(t.ticket_tags.c.tag_id == tag)
            ),
            "emails": count(
                select(func.count())
                .select_from(t.Notification)
                .where(t.Notification.template == "automation_notice")
            ),
            "emailed tickets": count(
                select(func.count(func.distinct(t.Notification.ticket_id))).where(
                    t.Notification.template == "automation_notice"
                )
            ),
        }


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # several processes share PostgreSQL
def test_three_processes_sweeping_200_due_tickets_fire_each_rule_once(
    database_url: str, desk: Desk, admin: Actor, store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    rule = desk.add_automation(admin, FOLLOW_UP)
    for n in range(TICKETS):
        make_ticket(desk, subject=f"ticket {n}", email=f"customer{n}@example.com")
    at = clock.now() + timedelta(hours=2)

    fired = _sweep_in_processes(database_url, at, tmp_path)
    assert sum(fired) == TICKETS, fired
    once = dict.fromkeys(
        ("firings", "applied", "ran on tickets", "tagged", "emails", "emailed tickets"), TICKETS
    )
    assert _counts(store, rule["id"]) == once

    # Every ticket is due again (a change brings a ticket back to the sweep): its episode has
    # fired, so nothing fires a second time, whichever process looks.
    clock.set(at)
    for n in range(1, TICKETS + 1):
        desk.comment(admin, f"SUP-{n}", "looked at", public=False)
    again = _sweep_in_processes(database_url, at + timedelta(minutes=5), tmp_path)
    assert sum(again) == 0, again
    assert _counts(store, rule["id"]) == once
