"""The rules in force: the settings file's, with the SLA policies and automation rules
admins stored on top.

Compiling them (time zones, holiday calendars) is too slow for every transaction,
and a change made in one process must hold in all of them. So every change
counts up a ``job_marks`` row in its own transaction; a transaction that needs
the rules reads that count (one primary-key read) and compiles again only when
it moved. The workflow and the escalation ladder come from the file alone.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config.settings import Settings
from bot.errors import ConfigError, UserError
from bot.rules.model import FieldSpec, Rule
from bot.rules.parse import parse_rule
from bot.rules.ruleset import RuleSet
from bot.sla.policy import Policies, build_ladder, layered
from bot.sla.settings import SlaPolicyOverride
from bot.store import tables as t
from bot.store.rows import get_or_create
from bot.unit import RULES, Rules, Unit, WebhookInterest
from bot.workflow import Workflow

logger = logging.getLogger(__name__)

# On a session that counted a change of the rules (begin_change), not yet committed.
CHANGING = "rule_book_changing"
# Not escalation's "sla_rules" mark (a fingerprint of what the sweep last re-timed by).
VERSION_MARK = "rule_book_version"


class RuleBook:
    """One per desk: the last compiled version, shared by its threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.workflow = Workflow.from_config(settings.status_transitions)
        self.ladder = build_ladder(settings.escalation_levels)
        self._compiled: Rules | None = None
        self._lock = threading.Lock()
        self._parsed_rules: dict[tuple[int, int, str, str], Rule] = {}

    def current(self, session: Session) -> Rules:
        """The committed rules; a transaction that changed them uses :func:`recompile` instead,
        so an uncommitted version is never kept for the others."""
        version = version_of(session)
        if session.info.get(CHANGING):
            # This transaction counted a change it has not committed: what it reads now is
            # its own, for it alone (recompile), never the version the others will get.
            return self.compile(session, version)
        compiled = self._compiled
        if compiled is not None and compiled.version == version:
            return compiled
        with self._lock:  # one thread compiles a new version; the others wait for it
            compiled = self._compiled
            if compiled is None or compiled.version != version:
                # Read after the count, so what is kept is never older than the count says.
                compiled = self._compiled = self.compile(session, version)
        return compiled

    def latest(self) -> Rules | None:
        """The last version a transaction of this process read (None before the first): for a
        check that must not cost a query and may lag one transaction behind (an SMTP RCPT)."""
        return self._compiled

    def compile(self, session: Session, version: int) -> Rules:
        stored = session.scalars(select(t.SlaPolicyRule).order_by(t.SlaPolicyRule.id))
        entries = layered(self.settings.sla_policies, self._buildable(stored))
        automations = session.scalars(
            select(t.AutomationRule)
            .where(t.AutomationRule.enabled.is_(True))
            .order_by(t.AutomationRule.position, t.AutomationRule.id)
        ).all()
        subscriptions = session.scalars(
            select(t.WebhookSubscription)
            .where(t.WebhookSubscription.active.is_(True))
            .order_by(t.WebhookSubscription.id)
        )
        return Rules(
            Policies(self.settings.sla, entries),
            self.ladder,
            entries,
            RuleSet.of(self._parsed(session, automations)),
            version,
            tuple(as_interest(row) for row in subscriptions),
            frozenset(session.scalars(select(t.BannedSender.pattern))),
        )

    def _parsed(self, session: Session, rows: Iterable[t.AutomationRule]) -> list[Rule]:
        """Stored rules were checked when written; one a later change broke (a custom field
        removed) is left out and logged rather than failing every transaction."""
        specs = field_specs(session) if rows else {}
        fingerprint = repr(sorted(specs.items()))
        known, kept = self._parsed_rules, {}
        parsed = []
        for row in rows:
            # A rule unchanged since the last version is not parsed again: adding the
            # thousandth rule costs one parse, not a thousand.
            key = (row.id, row.position, json.dumps(row.definition, sort_keys=True), fingerprint)
            rule = known.get(key)
            if rule is None:
                try:
                    rule = parse_rule(row.definition, rule_id=row.id, fields=specs, position=row.position)
                except UserError as error:
                    logger.error("automation rule %s (%s) is not applied: %s", row.id, row.name, error)
                    continue
            kept[key] = rule
            parsed.append(rule)
        self._parsed_rules = kept  # replaced whole: a thread reading the old one is not disturbed
        return parsed

    def _buildable(self, rows: Iterable[t.SlaPolicyRule]) -> list[SlaPolicyOverride]:
        """Stored policies were checked when written, but a later settings change (a default
        holiday subdivision the stored country lacks) may break one: it is left out and
        logged, rather than failing every transaction that needs the rules."""
        entries = []
        for row in rows:
            entry = as_override(row)
            try:
                Policies(self.settings.sla, [entry])
            except ConfigError as error:
                logger.error("stored SLA policy %s is not applied: %s", row.id, error)
                continue
            entries.append(entry)
        return entries


def version_of(session: Session) -> int:
    """How many changes the stored rules have had (0 before the first)."""
    return session.scalar(select(t.JobMark.value).where(t.JobMark.name == VERSION_MARK)) or 0


def begin_change(session: Session) -> int:
    """Count a change, first thing in the writer's transaction: the row lock it takes
    orders admins changing rules at once, so their checks see each other's rows."""
    get_or_create(session, t.JobMark, lambda: t.JobMark(name=VERSION_MARK, value=0), name=VERSION_MARK)
    mark = session.get(t.JobMark, VERSION_MARK, with_for_update=True, populate_existing=True)
    assert mark is not None
    mark.value += 1
    session.flush()
    session.info[CHANGING] = True
    return mark.value


def recompile(unit: Unit, version: int) -> None:
    """The changed rules for the rest of this transaction only, never the shared cache: if
    it rolls back, another change may commit under the same number."""
    unit.session.flush()
    unit.lookups[RULES] = unit.source.compile(unit.session, version)


def as_interest(row: t.WebhookSubscription) -> WebhookInterest:
    return WebhookInterest(
        row.id,
        frozenset(row.events),
        frozenset(row.filters.get("priority") or ()),
        row.filters.get("category") or None,
        row.include_internal,
    )


def as_override(row: t.SlaPolicyRule) -> SlaPolicyOverride:
    """A stored policy in the settings file's shape, so both are built by the same code."""
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


def field_specs(session: Session) -> dict[str, FieldSpec]:
    """The custom fields as rules name them (``field.<key>``), typed for their operators."""
    return {
        row.key: FieldSpec(row.key, row.type, tuple(row.options.get("choices") or ()))
        for row in session.scalars(select(t.CustomField))
    }
