"""Where an invitation came from, so unanswered ones are capped per source

Revision ID: 0014
Revises: 0013

``invited_from`` is the client address an invitation we received came from
(as the HTTP server knew it); null on agreements we sent and on older rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sharing_agreements") as batch:
        batch.add_column(sa.Column("invited_from", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sharing_agreements") as batch:
        batch.drop_column("invited_from")
