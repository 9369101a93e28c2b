"""Full-text search over subjects, descriptions and comment bodies.

SQLite reads the FTS5 table ``search_fts``; PostgreSQL matches ``to_tsvector('simple', ...)``
against ``plainto_tsquery``. Both are built by migration 0010, not by the models, and the
expressions below must stay the ones its indexes are built on.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, bindparam, func, literal_column, select, text, union
from sqlalchemy.sql.elements import ColumnClause

from bot.store import tables as t

WORD = re.compile(r"\w+", re.UNICODE)

_TICKET_TEXT: ColumnClause[Any] = literal_column(
    "to_tsvector('simple', tickets.subject || ' ' || tickets.description)"
)
_COMMENT_TEXT: ColumnClause[Any] = literal_column("to_tsvector('simple', comments.body)")


def words(query: str) -> list[str]:
    """The words a query is made of; punctuation and FTS operators are not words."""
    return WORD.findall(query)


def matching_ids(dialect: str, query: str, *, public_only: bool) -> Select[int]:
    """Ids of tickets whose subject, description or a comment has every word of ``query``;
    with ``public_only``, internal and flagged comments do not count."""
    if dialect == "sqlite":
        return _sqlite(words(query), public_only)
    return _postgresql(" ".join(words(query)), public_only)


def _sqlite(found: list[str], public_only: bool) -> Select[int]:
    # Each word quoted: a phrase of one token, so nothing in it is read as an FTS5 operator.
    match = " ".join('"' + word + '"' for word in found)
    sql = "SELECT ticket_id FROM search_fts WHERE search_fts MATCH :match"
    if public_only:
        sql += " AND public = 1"
    rows = text(sql).bindparams(bindparam("match", match)).columns(ticket_id=t.Ticket.id.type)
    return select(rows.subquery().c.ticket_id)


def _postgresql(query: str, public_only: bool) -> Select[int]:
    tsquery = func.plainto_tsquery("simple", query)
    in_tickets = select(t.Ticket.id).where(_TICKET_TEXT.op("@@")(tsquery))
    in_comments = select(t.Comment.ticket_id).where(_COMMENT_TEXT.op("@@")(tsquery))
    if public_only:
        in_comments = in_comments.where(t.Comment.public.is_(True), t.Comment.flagged.is_(False))
    both = union(in_tickets, in_comments).subquery()
    return select(both.c[0])
