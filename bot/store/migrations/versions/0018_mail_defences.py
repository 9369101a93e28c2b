"""Mail defences: suspended mail, banned senders, failing messages, Outlook threading

Revision ID: 0018
Revises: 0017

Mail an upstream filter marked as spam, from a banned sender, or beyond a sender's burst
limit is held in ``suspended_mail`` rather than opened as a ticket; ``banned_senders``
lists whom to refuse. ``mail_failures`` counts the attempts at a message that fails for a
reason of ours, so it is set aside after a few rather than retried for ever.

The requester's index on tickets gains the opening time, for the burst limit's count.
Tickets gain the Outlook conversation (``thread_index``) their mail belongs to, comments
whether a robot sent them, and attachments their MIME Content-ID, which the message's
HTML names inline images by.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bot.store.types

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

HAS_THREAD_INDEX = "thread_index IS NOT NULL"


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _when() -> sa.types.TypeEngine[Any]:
    return bot.store.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "suspended_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("key", sa.String(length=998), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=True),
        sa.Column("sender_name", sa.String(length=200), nullable=True),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("attachments", sa.Integer(), nullable=False),
        sa.Column("inbound", _json(), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=True),
        sa.Column("received_at", _when(), nullable=False),
        sa.Column("released_at", _when(), nullable=True),
        sa.Column("released_by", sa.String(length=320), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_suspended_mail"),
        sa.UniqueConstraint("channel", "key", name="uq_suspended_mail_channel_key"),
    )
    op.create_index("ix_suspended_mail_reason", "suspended_mail", ["reason"])
    op.create_index("ix_suspended_mail_sender", "suspended_mail", ["sender"])
    op.create_index("ix_suspended_mail_received_at", "suspended_mail", ["received_at"])
    op.create_table(
        "banned_senders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.String(length=320), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_banned_senders"),
        sa.UniqueConstraint("pattern", name="uq_banned_senders_pattern"),
    )
    op.create_table(
        "mail_failures",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=998), nullable=False),
        sa.Column("via", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("first_at", _when(), nullable=False),
        sa.Column("last_at", _when(), nullable=False),
        sa.Column("gave_up_at", _when(), nullable=True),
        sa.PrimaryKeyConstraint("digest", name="pk_mail_failures"),
    )
    op.create_index("ix_mail_failures_gave_up_at", "mail_failures", ["gave_up_at"])
    op.add_column("tickets", sa.Column("thread_index", sa.String(length=32), nullable=True))
    op.create_index(
        "ix_tickets_thread_index",
        "tickets",
        ["thread_index"],
        sqlite_where=sa.text(HAS_THREAD_INDEX),
        postgresql_where=sa.text(HAS_THREAD_INDEX),
    )
    op.add_column(
        "comments", sa.Column("auto_submitted", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("attachments", sa.Column("content_id", sa.String(length=500), nullable=True))
    # The requester's index gains the opening time: the burst limit counts a sender's last
    # hour as a range of it, rather than reading every ticket they ever opened.
    op.create_index("ix_tickets_requester_created", "tickets", ["requester_id", "created_at"])
    op.drop_index("ix_tickets_requester_id", table_name="tickets")


def downgrade() -> None:
    op.create_index("ix_tickets_requester_id", "tickets", ["requester_id"])
    op.drop_index("ix_tickets_requester_created", table_name="tickets")
    _drop_column("attachments", "content_id")
    _drop_column("comments", "auto_submitted")
    op.drop_index("ix_tickets_thread_index", table_name="tickets")
    _drop_column("tickets", "thread_index")
    op.drop_index("ix_mail_failures_gave_up_at", table_name="mail_failures")
    op.drop_table("mail_failures")
    op.drop_table("banned_senders")
    op.drop_index("ix_suspended_mail_received_at", table_name="suspended_mail")
    op.drop_index("ix_suspended_mail_sender", table_name="suspended_mail")
    op.drop_index("ix_suspended_mail_reason", table_name="suspended_mail")
    op.drop_table("suspended_mail")


def _drop_column(table: str, column: str) -> None:
    """SQLite (3.35 on) drops a plain column in place; batch mode would rebuild the table,
    which its foreign keys refuse while rows point at it."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    else:
        op.drop_column(table, column)
