"""Unanswered invitations we received: how many may wait, for how long, and an admin clearing them.

Anyone may send an invitation (the protocol has no credentials before one
exists), so what waits for an admin's answer is bounded three ways:

- per source: a client address (an IPv6 one by its /56, the block one
  customer is usually given whole) may have ``sharing.max_pending_per_source`` waiting,
  so one sender filling the queue never locks out another partner. Not per
  the host an invitation names: that is the sender's word, and counting it
  would let anyone lock out a real partner by naming its host a few times;
- in time: an invitation unanswered for ``sharing.invitation_ttl_days`` no
  longer counts, and is dropped the next time invitations are counted;
- in all: ``sharing.max_pending_invitations``, a last resort against many
  sources at once.

An admin may dismiss one or all of them; the sender is not told (it may
invite again, and an invitation is no promise an answer comes).
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, delete, exists, select

from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.errors import Conflict, NotFound
from bot.model import Actor
from bot.people.permissions import require_admin
from bot.sharing import protocol as p
from bot.store import tables as t
from bot.store.rows import get_or_create
from bot.unit import Unit

logger = logging.getLogger(__name__)

ADMISSION_MARK = "sharing_invitation_admission"


def admit(unit: Unit, sender_url: str, source: str | None) -> None:
    """Raise ``ProtocolError(422)`` when one more invitation from this source may not wait here.

    Expired invitations never count (:func:`purge_expired` drops them). Invitations
    arriving at once are counted one after the other: the caller inserts its own in
    this transaction, after this row lock, so processes sharing PostgreSQL cannot each
    see room for one more and all insert (SQLite's writers are serial anyway).
    """
    get_or_create(
        unit.session, t.JobMark, lambda: t.JobMark(name=ADMISSION_MARK, value=0), name=ADMISSION_MARK
    )
    unit.session.get(t.JobMark, ADMISSION_MARK, with_for_update=True, populate_existing=True)
    sharing = unit.settings.sharing
    query = select(t.SharingAgreement.sender_url, t.SharingAgreement.invited_from).where(*_waiting(unit))
    waiting = [(url, origin) for url, origin in unit.session.execute(query)]
    if len(waiting) >= sharing.max_pending_invitations:
        logger.warning("sharing: invitation refused, %d wait in all", len(waiting))
        raise p.ProtocolError(422, "too many invitations wait for an answer here; try again later")
    client = source_key(source)
    same_client = sum(1 for _, origin in waiting if client is not None and source_key(origin) == client)
    if same_client >= sharing.max_pending_per_source:
        logger.warning(
            "sharing: invitation from %s naming %r refused: too many wait", source, _host(sender_url)
        )
        raise p.ProtocolError(
            422, "too many invitations from this source wait for an answer here; try again later"
        )


def purge_expired(unit: Unit) -> int:
    """Drop the invitations nobody answered in time; how many."""
    rows = list(unit.session.scalars(select(t.SharingAgreement).where(*_waiting(unit, expired=True))))
    if rows:
        _drop(unit, rows, None, AuditKind.SHARING_INVITATIONS_EXPIRED)
        logger.info("sharing: %d unanswered invitation(s) expired", len(rows))
    return len(rows)


def is_expired(unit: Unit, row: t.SharingAgreement) -> bool:
    return row.side == p.RECEIVER and row.status == p.PENDING and row.created_at < _cutoff(unit)


def dismiss(unit: Unit, actor: Actor, agreement_id: int) -> t.SharingAgreement:
    """Drop one invitation we received and did not answer, without telling the sender."""
    require_admin(actor, "dismiss sharing invitations")
    row = unit.session.scalar(
        select(t.SharingAgreement).where(t.SharingAgreement.id == agreement_id).with_for_update()
    )
    if row is None:
        raise NotFound(f"no sharing agreement {agreement_id}", field="agreement")
    waiting = unit.session.scalar(
        select(t.SharingAgreement.id).where(t.SharingAgreement.id == row.id, *_waiting(unit, expired=None))
    )
    if waiting is None:
        raise Conflict(
            f"agreement {row.id} is {row.status} and ours as {row.side}: only an invitation we "
            "received and have not answered can be dismissed (deactivate an accepted one)",
            field="agreement",
        )
    _drop(unit, [row], actor, AuditKind.SHARING_INVITATION_DISMISSED)
    logger.info("sharing agreement %s: invitation dismissed by an admin", row.id)
    return row


def clear(unit: Unit, actor: Actor) -> int:
    """Drop every invitation we received and did not answer; how many. The senders are not told."""
    require_admin(actor, "clear sharing invitations")
    query = select(t.SharingAgreement).where(*_waiting(unit, expired=None)).with_for_update()
    rows = list(unit.session.scalars(query))
    if rows:
        _drop(unit, rows, actor, AuditKind.SHARING_INVITATIONS_CLEARED)
    logger.info("sharing: %d unanswered invitation(s) cleared by an admin", len(rows))
    return len(rows)


def source_key(address: str | None) -> str | None:
    """What counts as one source: an IPv4 address, an IPv6 address's /56, or the text as given."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address.lower()
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 56), strict=False))
    return str(ip)


def _waiting(unit: Unit, *, expired: bool | None = False) -> list[ColumnElement[bool]]:
    """Invitations we received and did not answer: in force (False), expired (True) or both (None).

    One that a partner's tickets or people hang on (it cannot have any, unanswered) is kept.
    """
    row = t.SharingAgreement
    where: list[ColumnElement[bool]] = [
        row.side == p.RECEIVER,
        row.status == p.PENDING,
        ~exists().where(t.SharedTicket.agreement_id == row.id),
        ~exists().where(t.SharingActor.agreement_id == row.id),
    ]
    if expired is True:
        where.append(row.created_at < _cutoff(unit))
    elif expired is False:
        where.append(row.created_at >= _cutoff(unit))
    return where


def _drop(unit: Unit, rows: list[t.SharingAgreement], actor: Actor | None, kind: AuditKind) -> None:
    """Delete them, with one audit row naming each (its partner URL and source), never its key."""
    dropped = [
        {"agreement": row.id, "from": row.sender_url, "name": row.partner_name, "source": row.invited_from}
        for row in rows
    ]
    audit.record(
        unit,
        ticket_id=None,
        actor=actor or Actor.system(),
        kind=kind,
        after={"invitations": dropped},
    )
    # One statement, not the ORM's delete per row: two requests purging at once must not
    # fail on a row the other one deleted first.
    ids = [row.id for row in rows]
    for row in rows:
        unit.session.expunge(row)
    unit.session.execute(
        delete(t.SharingAgreement).where(t.SharingAgreement.id.in_(ids)),
        execution_options={"synchronize_session": False},
    )


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().rstrip(".")


def _cutoff(unit: Unit) -> datetime:
    return unit.now - timedelta(days=unit.settings.sharing.invitation_ttl_days)
