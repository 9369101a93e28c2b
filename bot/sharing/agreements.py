"""Sharing agreements: inviting a partner, answering one, and every change either side makes.

An agreement goes one way: the side that invited (``sender``) shares tickets,
the other (``receiver``) works on them. Our own actions (invite, accept,
decline, deactivate) change the row and queue the request telling the
partner, in one transaction; the partner's requests come in through
:mod:`channels.sharing` and land in the ``receive_*`` functions, which raise
:class:`~bot.sharing.protocol.ProtocolError` with the status to answer.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from bot import audit, outbox
from bot.errors import Conflict, NotFound, UserError
from bot.model import Actor, Role
from bot.permissions import require_admin
from bot.sharing import protocol as p
from bot.store import tables as t
from bot.unit import Unit

logger = logging.getLogger(__name__)

CHANNEL = "sharing"
# Anyone may send an invitation (the protocol has no credentials before one exists); this
# many unanswered ones are enough for an admin to look at before more are taken.
MAX_PENDING_INVITATIONS = 20


@dataclass(frozen=True, slots=True)
class AgreementView:
    """An agreement as admins see it: never its access key."""

    id: int
    uuid: str
    side: str
    partner: str
    partner_url: str
    status: str
    deactivated_by: str | None
    sync_tags: bool
    sync_custom_fields: bool
    allows_public_comments: bool
    shared_tickets: int
    # The last request to the partner that failed for good (a refused invitation, ...).
    delivery_error: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Partner:
    """What the outbox's sender needs: where the partner is and the token to show."""

    id: int
    url: str
    token: str


# -- our side's actions ------------------------------------------------------------------------


def invite(
    unit: Unit,
    actor: Actor,
    partner_url: str,
    *,
    sync_tags: bool = True,
    sync_custom_fields: bool = False,
    allows_public_comments: bool = True,
) -> AgreementView:
    require_admin(actor, "invite another help desk to share tickets")
    if not unit.settings.sharing.enabled:
        raise UserError("ticket sharing is off here (sharing.enabled = false)", field="url")
    try:
        url = p.check_url(partner_url, "the partner's sharing URL")
    except p.ProtocolError as error:
        raise UserError(error.message, field="url") from None
    ours = our_url(unit)
    if url == ours:
        raise UserError("that is this help desk's own sharing URL", field="url")
    row = t.SharingAgreement(
        uuid=p.new_secret(),
        access_key=p.new_secret(),
        side=p.SENDER,
        partner_name="",
        sender_url=ours,
        receiver_url=url,
        status=p.PENDING,
        deactivated_by=None,
        sync_tags=sync_tags,
        sync_custom_fields=sync_custom_fields,
        allows_public_comments=allows_public_comments,
        created_at=unit.now,
        updated_at=unit.now,
    )
    unit.session.add(row)
    unit.session.flush()
    if not all(_private(u) or u.startswith("https://") for u in (url, ours)):
        # The invitation carries the agreement's secret; say so while it can still be fixed.
        logger.warning(
            "sharing agreement %s: %s and %s are not both https: the access key travels in clear",
            row.id,
            ours,
            url,
        )
    body = {**_wire(unit, row), "access_key": row.access_key, "current_actor": actor_json(unit, actor)}
    send(unit, row, "POST", f"agreements/{row.uuid}", body, f"invite:{row.id}")
    _audit(unit, actor, row, "sharing_invited", {"partner_url": url})
    logger.info("sharing agreement %s: invitation queued for %s", row.id, url)
    return _view(unit, row)


def answer(unit: Unit, actor: Actor, agreement_id: int, status: str) -> AgreementView:
    """Accept or decline an invitation we received, or end an accepted agreement (either side)."""
    require_admin(actor, f"{_verb(status)} sharing agreements")
    row = _get(unit, agreement_id, lock=True)
    if status in (p.ACCEPTED, p.DECLINED):
        if row.side != p.RECEIVER or row.status != p.PENDING:
            raise Conflict(
                f"agreement {row.id} is {row.status} and ours as {row.side}: only an invitation we "
                "received and have not answered can be accepted or declined",
                field="status",
            )
        row.status = status
    elif status == p.INACTIVE:
        if row.status != p.ACCEPTED:
            raise Conflict(
                f"agreement {row.id} is {row.status}: only an accepted one can end", field="status"
            )
        row.status, row.deactivated_by = p.INACTIVE, row.side
    else:
        raise UserError(f"{status!r}: use accepted, declined or inactive", field="status")
    row.updated_at = unit.now
    body: dict[str, Any] = {
        "uuid": row.uuid,
        "status": row.status,
        "name": unit.settings.sharing.name,
        "current_actor": actor_json(unit, actor),
    }
    if status == p.INACTIVE:
        body["deactivated_by"] = row.side
    if row.side == p.RECEIVER:
        body["receiver_url"] = row.receiver_url
    send(unit, row, "PUT", f"agreements/{row.uuid}", body, f"{status}:{row.id}:{unit.now.isoformat()}")
    _audit(unit, actor, row, f"sharing_{status}", {"status": row.status})
    return _view(unit, row)


def agreements(unit: Unit, actor: Actor) -> list[AgreementView]:
    require_admin(actor, "list sharing agreements")
    rows = unit.session.scalars(select(t.SharingAgreement).order_by(t.SharingAgreement.id))
    return [_view(unit, row) for row in rows]


def agreement(unit: Unit, actor: Actor, agreement_id: int) -> AgreementView:
    require_admin(actor, "read sharing agreements")
    return _view(unit, _get(unit, agreement_id))


def partner(unit: Unit, agreement_id: int) -> Partner | None:
    """For the outbox's sender, which runs for no person: None when the agreement is gone."""
    row = unit.session.get(t.SharingAgreement, agreement_id)
    if row is None:
        return None
    url = row.receiver_url if row.side == p.SENDER else row.sender_url
    return Partner(row.id, url, p.token(row.uuid, row.access_key))


# -- the partner's requests ----------------------------------------------------------------------


def receive_invitation(unit: Unit, token: str | None, url_uuid: str, body: object) -> bool:
    """True when the agreement is new; a repeated invitation (the sender retried) changes nothing."""
    offer = p.read_agreement(body, url_uuid)
    if not offer.access_key:
        raise p.ProtocolError(422, "an invitation carries its access_key")
    if token is not None and not hmac.compare_digest(
        token.encode(), p.token(offer.uuid, offer.access_key).encode()
    ):
        raise p.ProtocolError(403, "the token does not match the agreement's uuid and access_key")
    if offer.status not in (None, p.PENDING):
        raise p.ProtocolError(422, "a new agreement must have 'pending' status")
    if not offer.sender_url:
        raise p.ProtocolError(422, "an invitation names its sender_url")
    known = unit.session.scalar(select(t.SharingAgreement).where(t.SharingAgreement.uuid == offer.uuid))
    if known is not None:
        if known.side == p.RECEIVER and hmac.compare_digest(known.access_key, offer.access_key):
            return False
        raise p.ProtocolError(422, "an agreement with this uuid already exists")
    waiting = unit.session.scalar(
        select(func.count())
        .select_from(t.SharingAgreement)
        .where(t.SharingAgreement.side == p.RECEIVER, t.SharingAgreement.status == p.PENDING)
    )
    if (waiting or 0) >= MAX_PENDING_INVITATIONS:
        raise p.ProtocolError(422, "too many invitations wait for an answer here; try again later")
    row = t.SharingAgreement(
        uuid=offer.uuid,
        access_key=offer.access_key,
        side=p.RECEIVER,
        partner_name=offer.name or "",
        sender_url=offer.sender_url,
        receiver_url=offer.receiver_url or our_url(unit),
        status=p.PENDING,
        deactivated_by=None,
        sync_tags=bool(offer.sync_tags),
        sync_custom_fields=bool(offer.sync_custom_fields),
        # The gem sends it always; absent, the reference's default (public) holds.
        allows_public_comments=offer.allows_public_comments is not False,
        created_at=unit.now,
        updated_at=unit.now,
    )
    unit.session.add(row)
    unit.session.flush()
    _audit(
        unit,
        partner_actor(row),
        row,
        "sharing_invitation",
        {"from": row.sender_url, "name": row.partner_name},
    )
    logger.info("sharing agreement %s: invitation from %s (%s)", row.id, row.sender_url, row.partner_name)
    return True


def receive_change(unit: Unit, token: str | None, url_uuid: str, body: object) -> None:
    """The partner accepted, declined, ended the agreement, or renamed itself or moved."""
    row = _for_agreement_request(unit, token, url_uuid)
    change = p.read_agreement(body, url_uuid)
    them = p.RECEIVER if row.side == p.SENDER else p.SENDER
    before = row.status
    if change.status is not None and change.status != row.status:
        _transition(row, change, them)
    if change.name:
        row.partner_name = change.name
    # Each side may move only its own URL; the access key never changes (a changed one is ignored).
    if them == p.RECEIVER and change.receiver_url:
        row.receiver_url = change.receiver_url
    if them == p.SENDER and change.sender_url:
        row.sender_url = change.sender_url
    row.updated_at = unit.now
    if row.status != before:
        _audit(unit, partner_actor(row), row, f"sharing_{row.status}", {"status": row.status, "by": them})
        logger.info("sharing agreement %s: %s by the partner", row.id, row.status)


def _transition(row: t.SharingAgreement, change: p.AgreementIn, them: str) -> None:
    target = change.status
    if target in (p.ACCEPTED, p.DECLINED) and row.status == p.PENDING:
        if them != p.RECEIVER:
            raise p.ProtocolError(422, "only the receiver accepts or declines an agreement")
        row.status = target
    elif target == p.INACTIVE and row.status == p.ACCEPTED:
        if change.deactivated_by not in (None, them):
            raise p.ProtocolError(422, f"deactivated_by must name the side that sends it ({them})")
        row.status, row.deactivated_by = p.INACTIVE, them
    else:
        # Reactivating (inactive -> accepted) and accepting a declined one: invite again.
        raise p.ProtocolError(422, f"an agreement cannot go from {row.status} to {target}")


def read(unit: Unit, token: str | None, url_uuid: str) -> dict[str, Any]:
    row = _for_agreement_request(unit, token, url_uuid)
    return _wire(unit, row)


def authenticate(unit: Unit, token: str | None) -> t.SharingAgreement:
    """The agreement a ticket request belongs to, by its token; it must be in force."""
    parts = p.split_token(token)
    if parts is None:
        raise p.ProtocolError(401, f"send {p.TOKEN_HEADER}: <agreement uuid>:<access key>")
    row = unit.session.scalar(select(t.SharingAgreement).where(t.SharingAgreement.uuid == parts[0]))
    if row is None or not hmac.compare_digest(row.access_key.encode(), parts[1].encode()):
        raise p.ProtocolError(403, "no agreement with this token")
    if row.status == p.INACTIVE:
        raise p.ProtocolError(410, "the agreement was deactivated")
    if row.status != p.ACCEPTED:
        raise p.ProtocolError(403, f"the agreement is {row.status}")
    return row


def _for_agreement_request(unit: Unit, token: str | None, url_uuid: str) -> t.SharingAgreement:
    parts = p.split_token(token)
    if parts is None:
        raise p.ProtocolError(401, f"send {p.TOKEN_HEADER}: <agreement uuid>:<access key>")
    row = unit.session.scalar(
        select(t.SharingAgreement).where(t.SharingAgreement.uuid == url_uuid).with_for_update()
    )
    if row is None:
        raise p.ProtocolError(404, "no such agreement")
    if parts[0] != row.uuid or not hmac.compare_digest(row.access_key.encode(), parts[1].encode()):
        raise p.ProtocolError(403, "the token is not this agreement's")
    return row


# -- shared helpers ----------------------------------------------------------------------


def our_url(unit: Unit) -> str:
    return unit.settings.sharing.public_base(unit.settings.http)


def send(
    unit: Unit,
    row: t.SharingAgreement,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    key: str,
    *,
    ticket_id: int | None = None,
) -> None:
    """Queue one request to the partner; ``key`` names the change, so telling it twice sends once."""
    outbox.enqueue(
        unit.session,
        now=unit.now,
        channel=CHANNEL,
        recipient=str(row.id),
        recipient_name=row.partner_name or None,
        template=f"{method} {path.split('/')[0]}",
        context={"method": method, "path": path, "body": body},
        dedupe_key=f"sharing:{row.id}:{key}",
        ticket_id=ticket_id,
    )


def actor_json(unit: Unit, actor: Actor) -> dict[str, Any]:
    """Who did it, as the partner sees them: a stable uuid and a name, never an email."""
    person = unit.session.get(t.Person, actor.person_id) if actor.person_id else None
    return (
        person_json(unit, person)
        if person
        else {
            "uuid": p.resource_uuid(our_url(unit), "users", actor.label),
            "name": unit.settings.sharing.name,
            "role": "agent",
        }
    )


def person_json(unit: Unit, person: t.Person) -> dict[str, Any]:
    role = {"admin": "admin", "agent": "agent"}.get(person.role, "end-user")
    return {
        "uuid": p.resource_uuid(our_url(unit), "users", person.id),
        "name": person.name or (person.email or "").partition("@")[0] or f"user {person.id}",
        "role": role,
    }


def _wire(unit: Unit, row: t.SharingAgreement) -> dict[str, Any]:
    return {
        "uuid": row.uuid,
        "name": unit.settings.sharing.name,
        "sender_url": row.sender_url,
        "receiver_url": row.receiver_url,
        "status": row.status,
        "deactivated_by": row.deactivated_by,
        "sync_tags": row.sync_tags,
        "sync_custom_fields": row.sync_custom_fields,
        "allows_public_comments": row.allows_public_comments,
    }


def _get(unit: Unit, agreement_id: int, *, lock: bool = False) -> t.SharingAgreement:
    row = unit.session.get(t.SharingAgreement, agreement_id, with_for_update=lock or None)
    if row is None:
        raise NotFound(f"no sharing agreement {agreement_id}", field="agreement")
    return row


def _view(unit: Unit, row: t.SharingAgreement) -> AgreementView:
    shared = unit.session.scalar(
        select(func.count())
        .select_from(t.SharedTicket)
        .where(t.SharedTicket.agreement_id == row.id, t.SharedTicket.detached_at.is_(None))
    )
    failed = unit.session.scalar(
        select(t.Notification.last_error)
        .where(
            t.Notification.channel == CHANNEL,
            t.Notification.recipient == str(row.id),
            t.Notification.status == outbox.DEAD,
        )
        .order_by(t.Notification.id.desc())
        .limit(1)
    )
    return AgreementView(
        id=row.id,
        uuid=row.uuid,
        side=row.side,
        partner=row.partner_name,
        partner_url=row.receiver_url if row.side == p.SENDER else row.sender_url,
        status=row.status,
        deactivated_by=row.deactivated_by,
        sync_tags=row.sync_tags,
        sync_custom_fields=row.sync_custom_fields,
        allows_public_comments=row.allows_public_comments,
        shared_tickets=shared or 0,
        delivery_error=failed,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def partner_actor(row: t.SharingAgreement) -> Actor:
    return Actor(None, f"sharing:{row.uuid[:12]}", Role.AGENT)


def _audit(unit: Unit, actor: Actor, row: t.SharingAgreement, kind: str, after: dict[str, Any]) -> None:
    audit.record(unit, ticket_id=None, actor=actor, kind=kind, after={"agreement": row.id, **after})


def _private(url: str) -> bool:
    """Loopback: a test, or both desks on one machine."""
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "127.0.0.1", "::1")


def _verb(status: str) -> str:
    return {p.ACCEPTED: "accept", p.DECLINED: "decline", p.INACTIVE: "deactivate"}.get(status, "change")
