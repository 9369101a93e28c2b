"""API tokens: one per tool or integration, tied to a person, whose role decides what it may do.

A token is 32 random bytes, shown once when created; the store keeps only its
SHA-256. A fast hash is the right one here: unlike a password the token is
random and long, so there is nothing to guess, and every API request checks one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.errors import Forbidden, NotFound, Unauthenticated
from bot.model import Actor, Role
from bot.people import directory
from bot.store import tables as t
from bot.unit import Unit

PREFIX = "sbt_"


@dataclass(frozen=True, slots=True)
class TokenView:
    id: int
    person: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(unit: Unit, actor: Actor, email: str, name: str = "") -> tuple[TokenView, str]:
    """The new token's record and the token itself, which is never shown again."""
    person = directory.find_person(unit, email)
    _may_manage(actor, person)
    token = PREFIX + secrets.token_urlsafe(32)
    row = t.ApiToken(
        person=person,
        name=name.strip()[:200],
        prefix=token[:12],
        token_hash=digest(token),
        created_at=unit.now,
    )
    unit.session.add(row)
    unit.session.flush()
    audit.record(
        unit,
        ticket_id=None,
        actor=actor,
        kind=AuditKind.TOKEN_CREATED,
        after={"person": person.email, "token": row.id},
    )
    return _view(row), token


def authenticate(unit: Unit, token: str) -> Actor:
    """The person a bearer token stands for; Unauthenticated for anything else."""
    if not token.startswith(PREFIX):
        raise Unauthenticated("not a Supportbot API token")
    row = unit.session.scalar(select(t.ApiToken).where(t.ApiToken.token_hash == digest(token)))
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("unknown or revoked API token")
    person = row.person
    return Actor(person.id, person.email or person.slack_user_id or f"person {person.id}", Role(person.role))


def revoke(unit: Unit, actor: Actor, token_id: int) -> TokenView:
    row = unit.session.get(t.ApiToken, token_id)
    if row is None:
        raise NotFound(f"no API token {token_id}", field="id")
    _may_manage(actor, row.person)
    if row.revoked_at is None:
        row.revoked_at = unit.now
        audit.record(unit, ticket_id=None, actor=actor, kind=AuditKind.TOKEN_REVOKED, after={"token": row.id})
    return _view(row)


def list_tokens(unit: Unit, email: str | None = None) -> list[TokenView]:
    query = select(t.ApiToken).order_by(t.ApiToken.id)
    if email:
        query = query.where(t.ApiToken.person_id == directory.find_person(unit, email).id)
    return [_view(row) for row in unit.session.scalars(query)]


def _may_manage(actor: Actor, person: t.Person) -> None:
    """People manage their own tokens; admins (and the console) anyone's."""
    if actor.person_id not in (None, person.id) and actor.role is not Role.ADMIN:
        raise Forbidden("only admins manage other people's API tokens")


def _view(row: t.ApiToken) -> TokenView:
    label = row.person.email or row.person.slack_user_id or f"person {row.person_id}"
    return TokenView(row.id, label, row.name, row.prefix, row.created_at, row.revoked_at)
