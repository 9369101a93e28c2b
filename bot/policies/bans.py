"""The ban list: addresses and domains whose mail the desk refuses or suspends.

Kept with the rules (:mod:`bot.policies.book`): every process reads the same list from
the version it already reads per transaction, so checking a sender costs no query, and
a ban added in one process holds in all of them from its commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.errors import Conflict, NotFound, UserError
from bot.model import Actor
from bot.people.permissions import require_admin
from bot.policies.book import begin_change, recompile
from bot.store import tables as t
from bot.unit import Unit

# A domain: labels of letters, digits and hyphens (IDNA already applied), at least two.
DOMAIN = re.compile(r"(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")
# A ban's id as written by hand: ASCII digits, within the store's integers.
ID = re.compile(r"[0-9]{1,9}")
LOCAL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")


@dataclass(frozen=True, slots=True)
class BanView:
    id: int
    pattern: str
    kind: str
    note: str
    created_by: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: t.BannedSender) -> BanView:
        kind = "address" if "@" in row.pattern else "domain"
        return cls(row.id, row.pattern, kind, row.note, row.created_by, row.created_at)


def normalised(pattern: str) -> str:
    """``Someone@Example.COM`` -> ``someone@example.com``; ``@example.com`` and
    ``*.example.com`` -> ``example.com`` (a domain bans its subdomains too)."""
    value = pattern.strip().lower().removeprefix("*.").removeprefix("@").rstrip(".")
    local, at, domain = value.rpartition("@")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise UserError(f"{pattern!r} is not an address or a domain", field="pattern") from None
    if not DOMAIN.fullmatch(domain) or (at and not LOCAL.fullmatch(local)):
        raise UserError(
            f"{pattern!r} is not an address or a domain; write someone@example.com or example.com",
            field="pattern",
        )
    return f"{local}@{domain}" if at else domain


def listing(unit: Unit) -> list[BanView]:
    rows = unit.session.scalars(select(t.BannedSender).order_by(t.BannedSender.pattern))
    return [BanView.of(row) for row in rows]


def add(unit: Unit, actor: Actor, pattern: str, note: str = "") -> BanView:
    require_admin(actor, "ban senders")
    value = normalised(pattern)
    version = begin_change(unit.session)
    if unit.session.scalar(select(t.BannedSender.id).where(t.BannedSender.pattern == value)) is not None:
        raise Conflict(f"{value} is already banned", field="pattern")
    row = t.BannedSender(pattern=value, note=" ".join(note.split())[:500], created_by=actor.label[:320])
    row.created_at = unit.now
    unit.session.add(row)
    unit.session.flush()
    audit.record(unit, ticket_id=None, actor=actor, kind=AuditKind.SENDER_BANNED, after={"pattern": value})
    recompile(unit, version)
    return BanView.of(row)


def remove(unit: Unit, actor: Actor, pattern_or_id: str) -> BanView:
    require_admin(actor, "lift bans")
    version = begin_change(unit.session)
    if pattern_or_id.isdigit():  # an id; past the store's ids (or not ASCII digits), nobody's
        row = unit.session.get(t.BannedSender, int(pattern_or_id)) if ID.fullmatch(pattern_or_id) else None
    else:
        row = unit.session.scalar(
            select(t.BannedSender).where(t.BannedSender.pattern == normalised(pattern_or_id))
        )
    if row is None:
        raise NotFound(f"{pattern_or_id} is not banned")
    view = BanView.of(row)
    unit.session.delete(row)
    unit.session.flush()
    audit.record(
        unit, ticket_id=None, actor=actor, kind=AuditKind.SENDER_UNBANNED, after={"pattern": view.pattern}
    )
    recompile(unit, version)
    return view
