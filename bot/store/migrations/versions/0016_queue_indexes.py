"""Indexes for the web desk's queues: a ticket's team, and the tickets at risk or breached

Revision ID: 0016
Revises: 0015

"My team's", "At risk" and "Breached" select by these columns; without an index each of
their counts read every ticket (0.2 to 0.7 s at a million tickets). The SLA index is
partial: few tickets are at risk or breached, and SQLite's planner, which knows how many
rows an index holds but not how a column's values are shared, then sees a small index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

SLA_ATTENTION = "sla_status IN ('at_risk', 'breached')"


def upgrade() -> None:
    op.create_index("ix_tickets_team_id", "tickets", ["team_id"])
    op.create_index(
        "ix_tickets_sla_attention",
        "tickets",
        ["sla_status"],
        sqlite_where=sa.text(SLA_ATTENTION),
        postgresql_where=sa.text(SLA_ATTENTION),
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_sla_attention", table_name="tickets")
    op.drop_index("ix_tickets_team_id", table_name="tickets")
