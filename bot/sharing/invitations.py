"""Sharing agreements, the partner's requests: an invitation, its changes, reading it, and the
token every ticket request is checked with.

Each function raises :class:`~bot.sharing.protocol.ProtocolError` with the
status the partner is answered with (see ``../shared/ticket_sharing.md``).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from sqlalchemy import select

from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.display_text import one_line
from bot.sharing import pending, wire
from bot.sharing import protocol as p
from bot.store import tables as t
from bot.unit import Unit

logger = logging.getLogger(__name__)


def receive_invitation(
    unit: Unit, token: str | None, url_uuid: str, body: object, source: str | None = None
) -> bool:
    """True when the agreement is new; a repeated invitation (the sender retried) changes nothing.

    ``source`` is the client's address as the channel knows it: how many unanswered
    invitations may wait per source, and for how long, is :mod:`bot.sharing.pending`'s.
    """
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
    sender_url = wire.check_partner_url(unit, offer.sender_url, "sender_url")
    pending.purge_expired(unit)
    known = unit.session.scalar(select(t.SharingAgreement).where(t.SharingAgreement.uuid == offer.uuid))
    if known is not None:
        if known.side == p.RECEIVER and hmac.compare_digest(known.access_key, offer.access_key):
            return False
        raise p.ProtocolError(422, "an agreement with this uuid already exists")
    pending.admit(unit, sender_url, source)
    row = t.SharingAgreement(
        uuid=offer.uuid,
        access_key=offer.access_key,
        side=p.RECEIVER,
        partner_name=one_line(offer.name or ""),
        sender_url=sender_url,
        receiver_url=offer.receiver_url or wire.our_url(unit),
        status=p.PENDING,
        deactivated_by=None,
        sync_tags=bool(offer.sync_tags),
        sync_custom_fields=bool(offer.sync_custom_fields),
        # The gem sends it always; absent, the reference's default (public) holds.
        allows_public_comments=offer.allows_public_comments is not False,
        invited_from=(source or "")[:64] or None,
        created_at=unit.now,
        updated_at=unit.now,
    )
    unit.session.add(row)
    unit.session.flush()
    audit.record(
        unit,
        ticket_id=None,
        actor=wire.partner_actor(row),
        kind=AuditKind.SHARING_INVITATION,
        after={"agreement": row.id, "from": row.sender_url, "name": row.partner_name, "source": source},
    )
    logger.info(
        "sharing agreement %s: invitation from %r (%r) at %s",
        row.id,
        row.sender_url,
        row.partner_name,
        source,
    )
    return True


def receive_change(unit: Unit, token: str | None, url_uuid: str, body: object) -> None:
    """The partner accepted, declined, ended the agreement, or renamed itself or moved."""
    row = _for_agreement_request(unit, token, url_uuid)
    change = p.read_agreement(body, url_uuid)
    them = p.RECEIVER if row.side == p.SENDER else p.SENDER
    before = row.status
    if change.status is not None and change.status != wire.agreement_json(unit, row)["status"]:
        _transition(row, change, them)
    if change.name:
        row.partner_name = one_line(change.name)
    # Each side may move only its own URL; the access key never changes (a changed one is ignored).
    if them == p.RECEIVER and change.receiver_url:
        row.receiver_url = wire.check_partner_url(unit, change.receiver_url, "receiver_url")
    if them == p.SENDER and change.sender_url:
        row.sender_url = wire.check_partner_url(unit, change.sender_url, "sender_url")
    row.updated_at = unit.now
    if row.status != before:
        audit.record(
            unit,
            ticket_id=None,
            actor=wire.partner_actor(row),
            kind=wire.STATUS_KINDS[row.status],
            after={"agreement": row.id, "status": row.status, "by": them},
        )
        logger.info("sharing agreement %s: %s by the partner", row.id, row.status)


def _transition(row: t.SharingAgreement, change: p.AgreementIn, them: str) -> None:
    target = change.status
    if target in (p.ACCEPTED, p.DECLINED) and row.status == p.PENDING:
        if them != p.RECEIVER:
            raise p.ProtocolError(422, "only the receiver accepts or declines an agreement")
        row.status = target
    elif target == p.INACTIVE and row.status in (p.ACCEPTED, wire.ACCEPTING):
        if change.deactivated_by not in (None, them):
            raise p.ProtocolError(422, f"deactivated_by must name the side that sends it ({them})")
        row.status, row.deactivated_by = p.INACTIVE, them
    else:
        # Reactivating (inactive -> accepted) and accepting a declined one: invite again.
        raise p.ProtocolError(422, f"an agreement cannot go from {row.status} to {target}")


def read(unit: Unit, token: str | None, url_uuid: str) -> dict[str, Any]:
    """The agreement as we hold it, for a partner that shows its token."""
    return wire.agreement_json(unit, _for_agreement_request(unit, token, url_uuid))


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
