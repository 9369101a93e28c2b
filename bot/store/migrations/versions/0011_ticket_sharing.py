"""Ticket sharing with other help desks

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bot.store.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TIME = bot.store.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sharing_agreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=200), nullable=False),
        sa.Column("access_key", sa.String(length=200), nullable=False),
        sa.Column("side", sa.String(length=10), nullable=False),
        sa.Column("partner_name", sa.String(length=200), nullable=False),
        sa.Column("sender_url", sa.String(length=2000), nullable=False),
        sa.Column("receiver_url", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("deactivated_by", sa.String(length=10), nullable=True),
        sa.Column("sync_tags", sa.Boolean(), nullable=False),
        sa.Column("sync_custom_fields", sa.Boolean(), nullable=False),
        sa.Column("allows_public_comments", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sharing_agreements"),
        sa.UniqueConstraint("uuid", name="uq_sharing_agreements_uuid"),
    )
    op.create_table(
        "sharing_actors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("actor_uuid", sa.String(length=200), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["sharing_agreements.id"],
            name="fk_sharing_actors_agreement_id_sharing_agreements",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name="fk_sharing_actors_person_id_people", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sharing_actors"),
        sa.UniqueConstraint("agreement_id", "actor_uuid", name="uq_sharing_actors_agreement_id_actor_uuid"),
    )
    op.create_table(
        "shared_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=200), nullable=False),
        sa.Column("side", sa.String(length=10), nullable=False),
        sa.Column("original_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("detached_at", _TIME, nullable=True),
        sa.Column(
            "tags_seen",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["sharing_agreements.id"],
            name="fk_shared_tickets_agreement_id_sharing_agreements",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_shared_tickets_ticket_id_tickets"),
        sa.PrimaryKeyConstraint("id", name="pk_shared_tickets"),
        sa.UniqueConstraint("agreement_id", "uuid", name="uq_shared_tickets_agreement_id_uuid"),
        sa.UniqueConstraint("agreement_id", "ticket_id", name="uq_shared_tickets_agreement_id_ticket_id"),
    )
    op.create_index("ix_shared_tickets_ticket_id", "shared_tickets", ["ticket_id"])
    op.create_index("ix_shared_tickets_uuid", "shared_tickets", ["uuid"])
    op.create_table(
        "shared_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shared_ticket_id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=200), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["shared_ticket_id"],
            ["shared_tickets.id"],
            name="fk_shared_comments_shared_ticket_id_shared_tickets",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["comment_id"], ["comments.id"], name="fk_shared_comments_comment_id_comments"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_shared_comments"),
        sa.UniqueConstraint("shared_ticket_id", "uuid", name="uq_shared_comments_shared_ticket_id_uuid"),
    )
    op.create_index("ix_shared_comments_comment_id", "shared_comments", ["comment_id"])


def downgrade() -> None:
    op.drop_index("ix_shared_comments_comment_id", table_name="shared_comments")
    op.drop_table("shared_comments")
    op.drop_index("ix_shared_tickets_uuid", table_name="shared_tickets")
    op.drop_index("ix_shared_tickets_ticket_id", table_name="shared_tickets")
    op.drop_table("shared_tickets")
    op.drop_table("sharing_actors")
    op.drop_table("sharing_agreements")
