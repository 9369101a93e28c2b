"""Full-text search: an FTS5 index kept by triggers (SQLite), GIN expression indexes (PostgreSQL)

Both are raw SQL the models do not describe: the search queries in bot/read/search.py
name them, nothing else does.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# One FTS5 row per ticket (rowid 2*id: subject and description) and per comment
# (rowid 2*id+1: its body), so a trigger finds its row by rowid without a scan.
# ``public`` is 0 for internal and flagged comments, which requesters never see.
SQLITE = [
    "CREATE VIRTUAL TABLE search_fts USING fts5("
    "body, ticket_id UNINDEXED, public UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')",
    """CREATE TRIGGER search_fts_ticket_insert AFTER INSERT ON tickets BEGIN
        INSERT INTO search_fts(rowid, body, ticket_id, public)
        VALUES (2 * new.id, new.subject || ' ' || new.description, new.id, 1);
    END""",
    """CREATE TRIGGER search_fts_ticket_update AFTER UPDATE OF subject, description ON tickets BEGIN
        DELETE FROM search_fts WHERE rowid = 2 * old.id;
        INSERT INTO search_fts(rowid, body, ticket_id, public)
        VALUES (2 * new.id, new.subject || ' ' || new.description, new.id, 1);
    END""",
    """CREATE TRIGGER search_fts_ticket_delete AFTER DELETE ON tickets BEGIN
        DELETE FROM search_fts WHERE rowid = 2 * old.id;
    END""",
    """CREATE TRIGGER search_fts_comment_insert AFTER INSERT ON comments BEGIN
        INSERT INTO search_fts(rowid, body, ticket_id, public)
        VALUES (2 * new.id + 1, new.body, new.ticket_id, new.public AND NOT new.flagged);
    END""",
    """CREATE TRIGGER search_fts_comment_update
        AFTER UPDATE OF body, ticket_id, public, flagged ON comments BEGIN
        DELETE FROM search_fts WHERE rowid = 2 * old.id + 1;
        INSERT INTO search_fts(rowid, body, ticket_id, public)
        VALUES (2 * new.id + 1, new.body, new.ticket_id, new.public AND NOT new.flagged);
    END""",
    """CREATE TRIGGER search_fts_comment_delete AFTER DELETE ON comments BEGIN
        DELETE FROM search_fts WHERE rowid = 2 * old.id + 1;
    END""",
    "INSERT INTO search_fts(rowid, body, ticket_id, public) "
    "SELECT 2 * id, subject || ' ' || description, id, 1 FROM tickets",
    "INSERT INTO search_fts(rowid, body, ticket_id, public) "
    "SELECT 2 * id + 1, body, ticket_id, public AND NOT flagged FROM comments",
]

# The expressions must be written exactly as bot/read/search.py queries them, or the
# planner will not use the indexes.
POSTGRESQL = [
    "CREATE INDEX ix_tickets_search ON tickets "
    "USING gin (to_tsvector('simple', subject || ' ' || description))",
    "CREATE INDEX ix_comments_search ON comments USING gin (to_tsvector('simple', body))",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE if dialect == "sqlite" else POSTGRESQL if dialect == "postgresql" else []:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("ticket_insert", "ticket_update", "ticket_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS search_fts_{name}")
        for name in ("comment_insert", "comment_update", "comment_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS search_fts_{name}")
        op.execute("DROP TABLE IF EXISTS search_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_comments_search")
        op.execute("DROP INDEX IF EXISTS ix_tickets_search")
