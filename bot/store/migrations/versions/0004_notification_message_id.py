"""notifications remember their message id, for bounces

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("message_id", sa.String(length=998), nullable=True))
        batch.create_index(batch.f("ix_notifications_message_id"), ["message_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_index(batch.f("ix_notifications_message_id"))
        batch.drop_column("message_id")
