"""The rules in force: the settings file's, with the SLA policies and routing rules
admins stored over the API on top.

Compiling them (time zones, holiday calendars) is too slow for every transaction,
and a change made in one process must hold in all of them. So every change
counts up a ``job_marks`` row in its own transaction; a transaction that needs
the rules reads that count (one primary-key read) and compiles again only when
it moved. The workflow and the escalation ladder come from the file alone.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.config_sla import SlaPolicyOverride
from bot.routing import Route
from bot.sla_policy import Policies, build_ladder, layered
from bot.store import tables as t
from bot.store.rows import get_or_create
from bot.unit import Rules
from bot.workflow import Workflow

MARK = "config_rules"


class RuleBook:
    """One per desk: the last compiled version, shared by its threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.workflow = Workflow.from_config(settings.status_transitions)
        self.ladder = build_ladder(settings.escalation_levels)
        self._compiled: Rules | None = None

    def current(self, session: Session) -> Rules:
        version = version_of(session)
        compiled = self._compiled
        if compiled is None or compiled.version != version:
            # Read after the count, so what is kept is never older than the count says.
            compiled = self._compiled = self.compile(session, version)
        return compiled

    def compile(self, session: Session, version: int) -> Rules:
        """Raises ConfigError when the layered policies do not build; writers check first."""
        stored = session.scalars(select(t.SlaPolicyRule).order_by(t.SlaPolicyRule.id))
        entries = layered(self.settings.sla_policies, [as_override(row) for row in stored])
        routes = session.scalars(
            select(t.RoutingRule)
            .where(t.RoutingRule.enabled.is_(True))
            .order_by(t.RoutingRule.position, t.RoutingRule.id)
        )
        return Rules(
            Policies(self.settings.sla, entries),
            self.ladder,
            entries,
            tuple(as_route(row) for row in routes),
            version,
        )


def version_of(session: Session) -> int:
    return session.scalar(select(t.JobMark.value).where(t.JobMark.name == MARK)) or 0


def bump(session: Session) -> int:
    """Count a change, in the writer's transaction; the row lock orders concurrent admins."""
    get_or_create(session, t.JobMark, lambda: t.JobMark(name=MARK, value=0), name=MARK)
    mark = session.get(t.JobMark, MARK, with_for_update=True, populate_existing=True)
    assert mark is not None
    mark.value += 1
    session.flush()
    return mark.value


def as_override(row: t.SlaPolicyRule) -> SlaPolicyOverride:
    return SlaPolicyOverride(
        category=row.category,
        priority=row.priority,
        first_response=row.first_response,
        resolution=row.resolution,
        timezone=row.timezone,
        business_hours=row.business_hours,
        holiday_country=row.holiday_country,
        holidays=row.holidays,
    )


def as_route(row: t.RoutingRule) -> Route:
    return Route(
        id=row.id,
        name=row.name,
        channel=row.channel,
        mailbox=row.mailbox,
        sender=row.sender,
        keywords=tuple(row.keywords),
        team_id=row.team_id,
        category_id=row.category_id,
        priority=row.priority,
        tags=tuple(row.tags),
    )
