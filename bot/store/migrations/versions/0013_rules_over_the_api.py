"""SLA policies and routing rules that admins write over the API

Revision ID: 0013
Revises: 0012

The settings file keeps its ``[sla]`` defaults and ``[[sla_policies]]``; these
rows are layered on top (a row replaces a file entry with the same category
and priority). Routing rules are new: the first matching one places a new
ticket. A ``job_marks`` row (``rule_book_version``) counts changes so every process
compiles the rules again at its next transaction.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bot.store.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _stamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", bot.store.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bot.store.types.UtcDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "sla_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=400), nullable=False),
        sa.Column("priority", sa.String(length=20), nullable=False),
        sa.Column("first_response", sa.String(length=20), nullable=False),
        sa.Column("resolution", sa.String(length=20), nullable=False),
        sa.Column("timezone", sa.String(length=100), nullable=False),
        sa.Column("business_hours", sa.String(length=500), nullable=False),
        sa.Column("holiday_country", sa.String(length=10), nullable=False),
        sa.Column("holidays", sa.String(length=2000), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_sla_policies"),
        sa.UniqueConstraint("category", "priority", name="uq_sla_policies_category_priority"),
    )
    op.create_table(
        "routing_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("keywords", _json(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("priority", sa.String(length=20), nullable=False),
        sa.Column("tags", _json(), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name="fk_routing_rules_team_id_teams", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name="fk_routing_rules_category_id_categories",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_routing_rules"),
    )


def downgrade() -> None:
    op.drop_table("routing_rules")
    op.drop_table("sla_policies")
    op.execute("DELETE FROM job_marks WHERE name = 'rule_book_version'")
