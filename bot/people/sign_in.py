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

import functools
import hashlib
import ipaddress
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
# Links mailed by the whole desk within the failure window: a bound on what strangers can
# make the desk send to addresses of their choosing.
MAX_LINKS_IN_ALL = 500
# Checked against when the address has no password, so an unknown address takes as long
# to refuse as a known one (no timing answer to "is this address known?").
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Made at the first password check, not at import (a hash takes 64 MiB and a fifth of a
    second, which every command and test process would pay)."""
    return _hasher.hash("no password has this hash " + secrets.token_hex(8))


SESSIONS = t.table_of(t.WebSession)
PEOPLE = t.table_of(t.Person)
ATTEMPTS = t.table_of(t.SignInAttempt)
LINKS = t.table_of(t.SignInLink)


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
    directory.end_sessions_of(unit, person.id)
    audit.record(
        unit,
        ticket_id=None,
        actor=actor,
        kind=AuditKind.PASSWORD_SET,
        after={"person": person.email, "password": "removed" if password is None else "set"},
    )


@dataclass(frozen=True, slots=True)
class Attempt:
    """A password sign-in under way: counted as a failure until it succeeds."""

    address: str | None
    attempt_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StoredPassword:
    person_id: int
    password_hash: str | None


def reserve_attempt(unit: Unit, email: str, client: str) -> Attempt:
    """Count this attempt as a failure first, then check the limits with it counted.

    Recording before checking closes the race of parallel guesses that would all pass a
    check made before any of them failed. The desk commits the rows even when this refuses,
    and removes them when the password turns out right."""
    address = _address_or_none(email)
    keys = [f"ip:{client_key(client)}"] + ([f"fail:{address}"] if address is not None else [])
    _serialize(unit, keys[-1])
    ids = tuple(
        int(
            unit.session.connection()
            .execute(insert(ATTEMPTS).values(key=key, at=unit.now).returning(ATTEMPTS.c.id))
            .scalar_one()
        )
        for key in keys
    )
    web = unit.settings.web
    if _recent(unit, keys[0]) > web.max_failures_per_client:
        raise TooManyAttempts("too many failed sign-ins from your address; try again later")
    if address is not None and _recent(unit, f"fail:{address}") > web.max_failures_per_address:
        raise TooManyAttempts("too many failed sign-ins for this address; try again later", field="email")
    return Attempt(address, ids)


def stored_password(unit: Unit, address: str | None) -> StoredPassword | None:
    if address is None:
        return None
    row = unit.session.execute(
        select(PEOPLE.c.id, PEOPLE.c.password_hash).where(PEOPLE.c.email == address)
    ).first()
    return StoredPassword(row.id, row.password_hash) if row is not None else None


def verify_password(stored: StoredPassword | None, password: str) -> bool:
    """Run outside any transaction (a check takes a fifth of a second and 64 MiB): an unknown
    address is checked against a dummy hash, so it takes as long to refuse as a known one."""
    hashed = stored.password_hash if stored is not None else None
    try:
        _hasher.verify(hashed or _dummy_hash(), password[:MAX_PASSWORD])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return hashed is not None


def finish_password_sign_in(unit: Unit, stored: StoredPassword, attempt: Attempt, password: str) -> SignedIn:
    """The password was right: the attempt is no failure, and a session opens."""
    unit.session.connection().execute(delete(ATTEMPTS).where(ATTEMPTS.c.id.in_(attempt.attempt_ids)))
    person = unit.session.get(t.Person, stored.person_id)
    if person is None or person.password_hash != stored.password_hash:
        raise Unauthenticated("that email and password do not match", field="password")
    _sso_only_staff(unit, person)
    if person.password_hash and _hasher.check_needs_rehash(person.password_hash):
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
    asker = f"link-ip:{client_key(client)}"
    keys = (f"link:{address}", asker, "link:*")
    _serialize(unit, keys[0])
    unit.session.connection().execute(insert(ATTEMPTS), [{"key": key, "at": unit.now} for key in keys])
    if _recent(unit, asker) > unit.settings.web.max_failures_per_client:
        raise TooManyAttempts("too many sign-in links asked for from your address; try again later")
    if _recent(unit, f"link:{address}") > MAX_LINKS_PER_ADDRESS or _recent(unit, "link:*") > MAX_LINKS_IN_ALL:
        logger.info("sign-in link not sent: too many asked for lately")
        return None
    if _is_own_or_robot(unit, address) or _staff_must_use_sso(unit, address):
        return None
    token = secrets.token_urlsafe(32)
    unit.session.add(
        t.SignInLink(
            token_hash=digest(token), email=address, created_at=unit.now, expires_at=unit.now + LINK_TTL
        )
    )
    return token, address


def sign_in_with_link(unit: Unit, token: str, client: str) -> SignedIn:
    """Use a link: once, before it expires, as the person at the address it was sent to
    (a requester is created for an address new to the desk)."""
    _check_client(unit, client)
    # Spent by the statement that checks it: two clicks at once cannot both sign in.
    spent = (
        unit.session.connection()
        .execute(
            update(LINKS)
            .where(
                LINKS.c.token_hash == digest(token), LINKS.c.used_at.is_(None), LINKS.c.expires_at > unit.now
            )
            .values(used_at=unit.now)
            .returning(LINKS.c.email)
        )
        .first()
    )
    if spent is None:
        _record_failure(unit, None, client)
        raise Unauthenticated(
            "this sign-in link is used, expired or unknown; ask for a new one", field="token"
        )
    person = directory.ensure_person(unit, Identity(email=spent.email))
    _sso_only_staff(unit, person)
    return _open(unit, person, "link")


def link_address(unit: Unit, token: str) -> str | None:
    """The address a live link signs in as, for the page that asks to confirm it: someone
    sent a link of their own account cannot be signed in as them without seeing whose it is."""
    return unit.session.scalar(
        select(LINKS.c.email).where(
            LINKS.c.token_hash == digest(token), LINKS.c.used_at.is_(None), LINKS.c.expires_at > unit.now
        )
    )


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


@dataclass(frozen=True, slots=True)
class LiveSession:
    actor: Actor
    session_id: int
    # Last use is written at most every few minutes (by :func:`touch_session`), not per request.
    touch_due: bool


def session_actor(unit: Unit, token: str) -> LiveSession | None:
    """Who holds this session cookie, or None: unknown, expired, idle too long, or the
    person's role changed since it was opened. One query, in a read transaction."""
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
    actor = Actor(row.person_id, row.email or f"person {row.person_id}", Role(row.person_role))
    due = unit.now - row.last_seen_at > min(idle / 10, timedelta(minutes=5))
    return LiveSession(actor, row.id, due)


def touch_session(unit: Unit, session_id: int) -> None:
    unit.session.connection().execute(
        update(SESSIONS).where(SESSIONS.c.id == session_id).values(last_seen_at=unit.now)
    )


def end_session(unit: Unit, token: str) -> None:
    unit.session.connection().execute(delete(SESSIONS).where(SESSIONS.c.token_hash == digest(token)))


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


def client_key(client: str) -> str:
    """Whom a client's attempts count against: an IPv4 address, or an IPv6 /64 (what one
    host or one customer line usually holds whole, as the HTTP server counts connections)."""
    try:
        ip = ipaddress.ip_address(client.split("%", 1)[0])
    except ValueError:
        return client[:100]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _serialize(unit: Unit, key: str) -> None:
    """Attempts on one address take turns (until their transaction ends), so parallel guesses
    each see the others counted. SQLite has one writer at a time already."""
    if unit.session.get_bind().dialect.name == "postgresql":
        lock = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        unit.session.connection().execute(select(func.pg_advisory_xact_lock(lock)))


def _recent(unit: Unit, key: str) -> int:
    since = unit.now - _window(unit)
    return int(
        unit.session.scalar(select(func.count()).where(ATTEMPTS.c.key == key, ATTEMPTS.c.at > since)) or 0
    )


def _check_client(unit: Unit, client: str) -> None:
    if _recent(unit, f"ip:{client_key(client)}") >= unit.settings.web.max_failures_per_client:
        raise TooManyAttempts("too many failed sign-ins from your address; try again later")


def _record_failure(unit: Unit, address: str | None, client: str) -> None:
    """Written even though the caller fails: the desk commits the unit before raising."""
    rows = [{"key": f"ip:{client_key(client)}", "at": unit.now}]
    if address is not None:
        rows.append({"key": f"fail:{address}", "at": unit.now})
    unit.session.connection().execute(insert(ATTEMPTS), rows)


def _sso_only(unit: Unit) -> bool:
    oidc = unit.settings.web.oidc
    return oidc.enabled and oidc.staff_sso_only


def _sso_only_staff(unit: Unit, person: t.Person) -> None:
    """``[web.oidc] staff_sso_only``: staff sign in where the organisation's MFA applies."""
    if _sso_only(unit) and Role(person.role).is_staff:
        raise Unauthenticated("agents and admins sign in with single sign-on here", field="email")


def _staff_must_use_sso(unit: Unit, address: str) -> bool:
    """No link is mailed to staff who must use SSO (the answer to the asker stays the same)."""
    if not _sso_only(unit):
        return False
    role = unit.session.scalar(select(PEOPLE.c.role).where(PEOPLE.c.email == address))
    return role is not None and Role(role).is_staff


def _address_or_none(email: str) -> str | None:
    try:
        return directory.normalize_email(email[:320])
    except UserError:
        return None


def _is_own_or_robot(unit: Unit, address: str) -> bool:
    own = {m.address.lower() for m in unit.settings.mailboxes} | {unit.settings.email.from_address.lower()}
    local = address.partition("@")[0]
    return address in own or local in {"mailer-daemon", "postmaster", "noreply", "no-reply"}
