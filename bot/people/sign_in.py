"""Signing in to the web desk: passwords, one-time links by email, sessions, and the limits on
failed attempts.

The channel (``channels.web``) speaks HTTP and cookies; what makes a sign-in valid, and
what a session is worth, is decided here, so the CLI (``people set-password``) and the
web desk keep one set of rules.

- Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second
  recommended set); a hash made with older parameters is replaced at the next sign-in.
- A sign-in link is 32 random bytes, mailed through the outbox, valid once and for
  ``LINK_TTL``, and bound to the address it went to. Asking for one answers the same
  whether the address is known or not: the mail is the only place the answer shows.
- A session is 32 random bytes in a cookie; the store keeps its SHA-256, the person and
  the role it was opened with. A session whose person has gone or whose role changed is
  over, so a demoted agent's open browser loses the queue at its next request.
- Failures (and links asked for) are rows counted per address and per client over a
  window, in the database, so the limit holds across every process.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, insert, select, update

from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.errors import TooManyAttempts, Unauthenticated, UserError
from bot.messages import Identity
from bot.model import Actor, Role
from bot.people import directory
from bot.people.permissions import require_admin
from bot.store import tables as t
from bot.unit import Unit

logger = logging.getLogger(__name__)

LINK_TTL = timedelta(minutes=15)
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 hashes any length; a megabyte "password" is only a slow request
# Links asked for per address within the failure window: enough for a lost mail or two.
MAX_LINKS_PER_ADDRESS = 3
# Checked against when the address has no password, so an unknown address takes as long
# to refuse as a known one (no timing answer to "is this address known?").
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("no password has this hash " + secrets.token_hex(8))

SESSIONS = t.table_of(t.WebSession)
PEOPLE = t.table_of(t.Person)
ATTEMPTS = t.table_of(t.SignInAttempt)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session: the cookie's value (shown once) and whose it is."""

    token: str
    actor: Actor


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- passwords ---------------------------------------------------------------------------


def set_password(unit: Unit, actor: Actor, email: str, password: str | None) -> None:
    """People set their own; admins (and the console) anyone's. None removes it."""
    person = directory.find_person(unit, email)
    if actor.person_id != person.id:
        require_admin(actor, "set other people's passwords")
    if password is not None:
        if len(password) < MIN_PASSWORD:
            raise UserError(f"a password needs at least {MIN_PASSWORD} characters", field="password")
        if len(password) > MAX_PASSWORD:
            raise UserError(f"a password may have at most {MAX_PASSWORD} characters", field="password")
    person.password_hash = _hasher.hash(password) if password is not None else None
    # Whoever knew the old password may hold a session: they all end (the caller signs in again).
    end_sessions_of(unit, person.id)
    audit.record(
        unit,
        ticket_id=None,
        actor=actor,
        kind=AuditKind.PASSWORD_SET,
        after={"person": person.email, "password": "removed" if password is None else "set"},
    )


def sign_in_with_password(unit: Unit, email: str, password: str, client: str) -> SignedIn:
    """A session for the person, or Unauthenticated (the same words for every failure).

    Agents and admins have passwords; requesters sign in with a link, unless an admin
    gave them a password too."""
    address = _address_or_none(email)
    _check_limits(unit, address, client)
    person = (
        unit.session.scalar(select(t.Person).where(t.Person.email == address))
        if address is not None
        else None
    )
    stored = person.password_hash if person is not None else None
    try:
        _hasher.verify(stored or _DUMMY_HASH, password[:MAX_PASSWORD])
        ok = stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or person is None:
        _record_failure(unit, address, client)
        raise Unauthenticated("that email and password do not match", field="password")
    if _hasher.check_needs_rehash(stored or ""):
        person.password_hash = _hasher.hash(password)
    return _open(unit, person, "password")


# -- one-time links ----------------------------------------------------------------------


def request_link(unit: Unit, email: str, client: str) -> tuple[str, str] | None:
    """A new link's token and the address to mail it to, or None when the limits say no (or
    the address is our own or a robot's). The caller answers "if that address may sign in, a
    link is on its way" either way, and mails the link through the outbox."""
    address = _address_or_none(email)
    if address is None:
        raise UserError("that is not an email address", field="email")
    window = unit.now - _window(unit)
    asked = unit.session.scalar(
        select(func.count()).where(ATTEMPTS.c.key == f"link:{address}", ATTEMPTS.c.at > window)
    )
    if asked and asked >= MAX_LINKS_PER_ADDRESS:
        logger.info("sign-in link not sent: %d asked for this address lately", asked)
        return None
    _check_client(unit, client)
    if _is_own_or_robot(unit, address):
        return None
    token = secrets.token_urlsafe(32)
    unit.session.add(
        t.SignInLink(
            token_hash=digest(token), email=address, created_at=unit.now, expires_at=unit.now + LINK_TTL
        )
    )
    unit.session.connection().execute(
        insert(ATTEMPTS),
        [{"key": f"link:{address}", "at": unit.now}, {"key": f"ip:{client}", "at": unit.now}],
    )
    return token, address


def sign_in_with_link(unit: Unit, token: str, client: str) -> SignedIn:
    """Use a link: once, before it expires, as the person at the address it was sent to
    (a requester is created for an address new to the desk)."""
    _check_client(unit, client)
    link = unit.session.scalar(select(t.SignInLink).where(t.SignInLink.token_hash == digest(token)))
    if link is None or link.used_at is not None or link.expires_at <= unit.now:
        _record_failure(unit, None, client)
        raise Unauthenticated(
            "this sign-in link is used, expired or unknown; ask for a new one", field="token"
        )
    link.used_at = unit.now
    person = directory.ensure_person(unit, Identity(email=link.email))
    return _open(unit, person, "link")


# -- single sign-on ----------------------------------------------------------------------


def sign_in_verified_email(unit: Unit, email: str, name: str, agent_domains: frozenset[str]) -> SignedIn:
    """A session for the person an identity provider vouched for (a verified email claim).

    Someone new becomes an agent when their domain is one of ``agent_domains``, a requester
    otherwise; an existing person keeps their role (an admin demoted in the desk stays so)."""
    address = directory.normalize_email(email)
    person = unit.session.scalar(select(t.Person).where(t.Person.email == address))
    if person is None:
        domain = address.rpartition("@")[2]
        role = Role.AGENT if domain in agent_domains else Role.REQUESTER
        person = directory.add_person(unit, Actor.system(), email=address, name=name[:200], role=role)
    return _open(unit, person, "sso")


# -- sessions ----------------------------------------------------------------------------


def session_actor(unit: Unit, token: str) -> Actor | None:
    """Who holds this session cookie, or None: unknown, expired, idle too long, or the
    person's role changed since it was opened. One query; last use is written at most
    every few minutes, not per request."""
    if not token or len(token) > 100:
        return None
    row = unit.session.execute(
        select(
            SESSIONS.c.id,
            SESSIONS.c.role,
            SESSIONS.c.last_seen_at,
            SESSIONS.c.expires_at,
            PEOPLE.c.id.label("person_id"),
            PEOPLE.c.email,
            PEOPLE.c.role.label("person_role"),
        )
        .join(PEOPLE, PEOPLE.c.id == SESSIONS.c.person_id)
        .where(SESSIONS.c.token_hash == digest(token))
    ).first()
    if row is None or row.role != row.person_role:
        return None
    idle = timedelta(hours=unit.settings.web.session_idle_hours)
    if row.expires_at <= unit.now or row.last_seen_at + idle <= unit.now:
        return None
    if unit.now - row.last_seen_at > min(idle / 10, timedelta(minutes=5)):
        unit.session.connection().execute(
            update(SESSIONS).where(SESSIONS.c.id == row.id).values(last_seen_at=unit.now)
        )
    return Actor(row.person_id, row.email or f"person {row.person_id}", Role(row.person_role))


def end_session(unit: Unit, token: str) -> None:
    unit.session.connection().execute(delete(SESSIONS).where(SESSIONS.c.token_hash == digest(token)))


def end_sessions_of(unit: Unit, person_id: int) -> int:
    """Every session of a person (a role change, a new password, removal)."""
    result = unit.session.connection().execute(delete(SESSIONS).where(SESSIONS.c.person_id == person_id))
    return int(result.rowcount or 0)


def sweep(unit: Unit) -> int:
    """Forget expired sessions, used or expired links and old attempts (housekeeping)."""
    removed = 0
    connection = unit.session.connection()
    removed += connection.execute(delete(SESSIONS).where(SESSIONS.c.expires_at <= unit.now)).rowcount or 0
    links = t.table_of(t.SignInLink)
    removed += connection.execute(delete(links).where(links.c.expires_at <= unit.now)).rowcount or 0
    removed += (
        connection.execute(delete(ATTEMPTS).where(ATTEMPTS.c.at <= unit.now - _window(unit))).rowcount or 0
    )
    return int(removed)


def _open(unit: Unit, person: t.Person, method: str) -> SignedIn:
    token = secrets.token_urlsafe(32)
    web = unit.settings.web
    unit.session.connection().execute(
        insert(SESSIONS).values(
            token_hash=digest(token),
            person_id=person.id,
            role=person.role,
            created_at=unit.now,
            last_seen_at=unit.now,
            expires_at=unit.now + timedelta(days=web.max_session_days),
        )
    )
    actor = Actor(person.id, person.email or f"person {person.id}", Role(person.role))
    audit.record(unit, ticket_id=None, actor=actor, kind=AuditKind.SIGNED_IN, after={"method": method})
    return SignedIn(token, actor)


# -- limits ------------------------------------------------------------------------------


def _window(unit: Unit) -> timedelta:
    return timedelta(minutes=unit.settings.web.failure_window_minutes)


def _check_limits(unit: Unit, address: str | None, client: str) -> None:
    _check_client(unit, client)
    if address is None:
        return
    failures = unit.session.scalar(
        select(func.count()).where(
            ATTEMPTS.c.key == f"fail:{address}", ATTEMPTS.c.at > unit.now - _window(unit)
        )
    )
    if failures and failures >= unit.settings.web.max_failures_per_address:
        raise TooManyAttempts("too many failed sign-ins for this address; try again later", field="email")


def _check_client(unit: Unit, client: str) -> None:
    failures = unit.session.scalar(
        select(func.count()).where(ATTEMPTS.c.key == f"ip:{client}", ATTEMPTS.c.at > unit.now - _window(unit))
    )
    if failures and failures >= unit.settings.web.max_failures_per_client:
        raise TooManyAttempts("too many failed sign-ins from your address; try again later")


def _record_failure(unit: Unit, address: str | None, client: str) -> None:
    """Written even though the caller fails: the desk commits the unit before raising."""
    rows = [{"key": f"ip:{client}", "at": unit.now}]
    if address is not None:
        rows.append({"key": f"fail:{address}", "at": unit.now})
    unit.session.connection().execute(insert(ATTEMPTS), rows)


def _address_or_none(email: str) -> str | None:
    try:
        return directory.normalize_email(email[:320])
    except UserError:
        return None


def _is_own_or_robot(unit: Unit, address: str) -> bool:
    own = {m.address.lower() for m in unit.settings.mailboxes} | {unit.settings.email.from_address.lower()}
    local = address.partition("@")[0]
    return address in own or local in {"mailer-daemon", "postmaster", "noreply", "no-reply"}
