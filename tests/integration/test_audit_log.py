"""The audit log's rows are written with their transaction, and rolled back with it
(bot/audit/log.py keeps them until just before the commit)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.desk.facade import Desk
from bot.errors import UserError
from bot.model import Actor
from bot.store import tables as t
from bot.store.db import Store


def _kinds(store: Store) -> list[str]:
    with store.read() as session:
        return list(session.scalars(select(t.Event.kind).order_by(t.Event.id)))


def test_rows_recorded_in_a_savepoint_go_with_it_when_it_rolls_back(desk: Desk, store: Store) -> None:
    with desk.unit() as unit:
        audit.record(unit, ticket_id=None, actor=Actor.system(), kind=AuditKind.TEAM_ADDED)
        with pytest.raises(UserError), audit.savepoint(unit):
            audit.record(unit, ticket_id=None, actor=Actor.system(), kind=AuditKind.CATEGORY_ADDED)
            raise UserError("refused")
        audit.record(unit, ticket_id=None, actor=Actor.system(), kind=AuditKind.PERSON_ADDED)
    assert _kinds(store) == ["team_added", "person_added"]


def test_rows_of_a_transaction_that_fails_are_not_written(desk: Desk, store: Store) -> None:
    with pytest.raises(RuntimeError), desk.unit() as unit:
        audit.record(unit, ticket_id=None, actor=Actor.system(), kind=AuditKind.TEAM_ADDED)
        raise RuntimeError("the change failed")
    assert _kinds(store) == []


def test_an_event_id_asked_for_comes_after_the_rows_recorded_before_it(desk: Desk, store: Store) -> None:
    with desk.unit() as unit:
        audit.record(unit, ticket_id=None, actor=Actor.system(), kind=AuditKind.TEAM_ADDED)
        audit.record_now(unit, ticket_id=None, actor=Actor.system(), kind=AuditKind.PERSON_ADDED)
    assert _kinds(store) == ["team_added", "person_added"]
