"""Automation rules: triggers, conditions and actions; routing rules become "ticket created" rules

Revision ID: 0017
Revises: 0016

Routing rules were the first kind of rule, matched once per new ticket. Each stored
one becomes an automation rule on the ``ticket_created`` trigger that stops later
rules when it matches (the first match won), at the same position, with the same
conditions and the same effect: its category before its team, so a team the rule
names wins over the category's, as before. A team or category already removed (the
routing rule had let it drop out) is left out of the new rule too; a rule left with
nothing to set, which only kept later rules from matching, is not carried over (logged).
Rules keep their ids, so the routing API and CLI still name them by the same numbers.

Tickets gain when their states began (status, assignment, the last replies of each
side), which time-based rules and "hours since" conditions count from, and the next
instant a time-based rule may be due, indexed like the SLA's next check. Existing
tickets take the best the store knows: their last update for the status, their
opening for the assignment, their comments for the replies.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bot.store.types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None
logger = logging.getLogger("alembic.runtime.migration")

AUTOMATION_DUE = "automation_check_at IS NOT NULL"
TICKET_STAMPS = ("status_changed_at", "assignment_changed_at", "requester_replied_at", "agent_replied_at")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _when() -> sa.types.TypeEngine[Any]:
    return bot.store.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "automation_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("trigger", sa.String(length=30), nullable=False),
        sa.Column("definition", _json(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_automation_rules"),
    )
    op.create_table(
        "automation_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("rule_name", sa.String(length=200), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("trigger", sa.String(length=30), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("changes", _json(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_automation_runs"),
    )
    op.create_index("ix_automation_runs_rule", "automation_runs", ["rule_id", "id"])
    op.create_index("ix_automation_runs_ticket_id", "automation_runs", ["ticket_id"])
    op.create_index("ix_automation_runs_rule_outcome", "automation_runs", ["rule_id", "outcome"])
    op.create_index("ix_automation_runs_created_at", "automation_runs", ["created_at"])
    op.create_table(
        "automation_firings",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("episode", _when(), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("rule_id", "ticket_id", "episode", "mode", name="pk_automation_firings"),
    )
    for name in (*TICKET_STAMPS, "automation_check_at"):
        op.add_column("tickets", sa.Column(name, _when(), nullable=True))
    op.create_index(
        "ix_tickets_automation_check_at",
        "tickets",
        ["automation_check_at"],
        sqlite_where=sa.text(AUTOMATION_DUE),
        postgresql_where=sa.text(AUTOMATION_DUE),
    )
    op.execute("UPDATE tickets SET status_changed_at = updated_at, assignment_changed_at = created_at")
    op.execute(
        "UPDATE tickets SET requester_replied_at = (SELECT max(c.created_at) FROM comments c"
        " WHERE c.ticket_id = tickets.id AND c.author_id = tickets.requester_id AND c.public)"
    )
    op.execute(
        "UPDATE tickets SET agent_replied_at = (SELECT max(c.created_at) FROM comments c"
        " JOIN people p ON p.id = c.author_id WHERE c.ticket_id = tickets.id AND c.public"
        " AND p.role IN ('agent', 'admin'))"
    )
    _move_routing_rules()
    op.drop_table("routing_rules")
    if op.get_bind().dialect.name == "postgresql":  # ids were kept: new rules number after them
        op.execute(
            "SELECT setval(pg_get_serial_sequence('automation_rules', 'id'),"
            " COALESCE((SELECT max(id) FROM automation_rules), 0) + 1, false)"
        )
    # Every process compiles its rules again.
    op.execute("UPDATE job_marks SET value = value + 1 WHERE name = 'rule_book_version'")


def _move_routing_rules() -> None:
    connection = op.get_bind()
    # Typed columns: SQLite hands back its stored times as text unless told what they are.
    routing = sa.table(
        "routing_rules",
        *(sa.column(name) for name in ("id", "name", "position", "enabled", "channel", "mailbox")),
        *(sa.column(name) for name in ("sender", "priority", "team_id", "category_id")),
        sa.column("keywords", _json()),
        sa.column("tags", _json()),
        sa.column("created_at", _when()),
        sa.column("updated_at", _when()),
    )
    teams = sa.table("teams", sa.column("id"), sa.column("name"))
    categories = sa.table("categories", sa.column("id"), sa.column("path"))
    rows = connection.execute(
        sa.select(routing, teams.c.name.label("team"), categories.c.path.label("category"))
        .select_from(
            routing.outerjoin(teams, teams.c.id == routing.c.team_id).outerjoin(
                categories, categories.c.id == routing.c.category_id
            )
        )
        .order_by(routing.c.position, routing.c.id)
    ).mappings()
    rules = sa.table(
        "automation_rules",
        sa.column("id"),
        sa.column("name"),
        sa.column("position"),
        sa.column("enabled"),
        sa.column("trigger"),
        sa.column("definition", _json()),
        sa.column("created_at", _when()),
        sa.column("updated_at", _when()),
    )
    now = datetime.now(UTC)
    for row in rows:
        definition = as_automation(dict(row))
        if not definition["actions"]:
            # Everything it set was removed: it set nothing, and only kept later rules from
            # matching. Not carried over (a rule must act): later rules now place those tickets.
            logger.warning("routing rule %s (%s) set nothing any more: not migrated", row["id"], row["name"])
            continue
        connection.execute(
            rules.insert().values(
                id=row["id"],  # the routing API and CLI name rules by id: the same ones still work
                name=row["name"],
                position=row["position"],
                enabled=bool(row["enabled"]),
                trigger="ticket_created",
                definition=definition,
                created_at=row["created_at"] or now,
                updated_at=row["updated_at"] or now,
            )
        )


def as_automation(row: dict[str, Any]) -> dict[str, Any]:
    """A routing rule's row as the automation rule that places tickets the same way."""
    conditions: list[dict[str, Any]] = []
    if row["channel"]:
        conditions.append({"field": "channel", "op": "is", "value": row["channel"]})
    if row["mailbox"]:
        conditions.append({"field": "mailbox", "op": "is", "value": row["mailbox"]})
    sender = row["sender"] or ""
    if sender.startswith("@"):
        conditions.append({"field": "requester_domain", "op": "is", "value": sender[1:]})
    elif sender:
        conditions.append({"field": "requester", "op": "is", "value": sender})
    keywords = _listed(row["keywords"])
    if keywords:
        conditions.append({"field": "text", "op": "contains", "value": keywords})
    actions: list[dict[str, Any]] = []
    if row["category"]:
        actions.append({"do": "set_category", "value": row["category"]})
    if row["team"]:
        actions.append({"do": "set_team", "value": row["team"]})
    if row["priority"]:
        actions.append({"do": "set_priority", "value": row["priority"]})
    tags = _listed(row["tags"])
    if tags:
        actions.append({"do": "add_tags", "tags": tags})
    return {
        "name": row["name"],
        "position": row["position"],
        "enabled": bool(row["enabled"]),
        "mode": "live",
        "stop": True,
        "trigger": {"on": "ticket_created"},
        "conditions": {"all": conditions, "any": []},
        "actions": actions,
    }


def _listed(value: Any) -> list[str]:
    """JSON columns come back decoded on PostgreSQL, as text on SQLite's raw SELECT."""
    if isinstance(value, str):
        value = json.loads(value)
    return [str(item) for item in value or ()]


def downgrade() -> None:
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
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
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
    # Automation rules have no routing-rule form in general; they are dropped, not converted.
    op.drop_index("ix_tickets_automation_check_at", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        for name in (*TICKET_STAMPS, "automation_check_at"):
            batch.drop_column(name)
    op.drop_table("automation_firings")
    op.drop_index("ix_automation_runs_created_at", table_name="automation_runs")
    op.drop_index("ix_automation_runs_rule_outcome", table_name="automation_runs")
    op.drop_index("ix_automation_runs_ticket_id", table_name="automation_runs")
    op.drop_index("ix_automation_runs_rule", table_name="automation_runs")
    op.drop_table("automation_runs")
    op.drop_table("automation_rules")
