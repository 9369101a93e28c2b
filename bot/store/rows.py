"""Race-safe creation of rows that many processes may create at the same moment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import exc, select
from sqlalchemy.orm import Session

Row = TypeVar("Row")


def get_or_create(session: Session, model: type[Row], make: Callable[[], Row], **unique: Any) -> Row:
    """The row with these unique values, made by ``make`` if nobody has it yet.

    Two first messages from one new sender may arrive in two processes at once.
    The insert runs in a savepoint: the loser of the race catches the unique
    violation, rolls back only the savepoint and reads the winner's row,
    instead of failing the whole message.
    """
    query = select(model).filter_by(**unique)
    found = session.scalars(query).first()
    if found is not None:
        return found
    try:
        with session.begin_nested():
            row = make()
            session.add(row)
            session.flush()
        return row
    except exc.IntegrityError:
        winner = session.scalars(query).first()
        if winner is None:
            raise
        return winner
