"""SLA clocks on tickets, team leads, notification preferences and job marks

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from bot.store.types import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TICKET_COLUMNS = (
    ("first_response_at", UtcDateTime(timezone=True)),
    ("first_response_due", UtcDateTime(timezone=True)),
    ("resolution_due", UtcDateTime(timezone=True)),
    ("sla_paused_since", UtcDateTime(timezone=True)),
    ("sla_next_check_at", UtcDateTime(timezone=True)),
    ("sla_breached_at", UtcDateTime(timezone=True)),
    ("last_customer_message_at", UtcDateTime(timezone=True)),
    ("expired_at", UtcDateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("sla_policy", sa.String(length=100), nullable=True))
        for name, kind in TICKET_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
        batch.add_column(sa.Column("sla_paused_seconds", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("first_response_paused_seconds", sa.Float(), nullable=True))
        batch.add_column(sa.Column("sla_status", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="0"))
        batch.create_index("ix_tickets_sla_next_check_at", ["sla_next_check_at"])
        batch.create_index("ix_tickets_created_at", ["created_at"])
    with op.batch_alter_table("teams") as batch:
        batch.add_column(sa.Column("lead_id", sa.Integer(), nullable=True))
    # Tickets open before this version get their clocks at the first sweep.
    tickets = sa.table(
        "tickets",
        sa.column("status", sa.String()),
        sa.column("sla_next_check_at", UtcDateTime(timezone=True)),
    )
    op.execute(
        tickets.update()
        .where(tickets.c.status.in_(("open", "in_progress", "waiting_customer")))
        .values(sla_next_check_at=datetime.now(UTC))
    )
    op.create_table(
        "notification_prefs",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=30), nullable=False),
        sa.Column("channels", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name="fk_notification_prefs_person_id_people",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", "event", name="pk_notification_prefs"),
    )
    op.create_table(
        "job_marks",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_job_marks"),
    )


def downgrade() -> None:
    op.drop_table("job_marks")
    op.drop_table("notification_prefs")
    with op.batch_alter_table("teams") as batch:
        batch.drop_column("lead_id")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_created_at")
        batch.drop_index("ix_tickets_sla_next_check_at")
        for name in (
            "escalation_level",
            "sla_status",
            "first_response_paused_seconds",
            "sla_paused_seconds",
            "sla_policy",
        ):
            batch.drop_column(name)
        for name, _ in reversed(TICKET_COLUMNS):
            batch.drop_column(name)
