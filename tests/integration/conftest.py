"""Helpers for tests against the real store."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from bot.store import tables as t
from bot.store.db import Store

TABLES = (
    t.Ticket,
    t.Comment,
    t.Event,
    t.Notification,
    t.ThreadRef,
    t.Attachment,
    t.Person,
    t.CustomFieldValue,
    t.Tag,
)


@pytest.fixture
def snapshot(store: Store) -> Callable[[], dict[str, int]]:
    """Row counts of every table, to show that a refused change left no trace."""

    def take() -> dict[str, int]:
        with store.read() as session:
            return {
                model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in TABLES
            }

    return take
