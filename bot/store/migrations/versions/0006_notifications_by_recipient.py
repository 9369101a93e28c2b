"""index notifications by recipient, for the acknowledgement limit

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_notifications_recipient_template", "notifications", ["recipient", "template", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_recipient_template", table_name="notifications")
