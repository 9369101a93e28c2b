"""Sharing agreements, our side: inviting a partner, answering an invitation, ending one.

An agreement goes one way: the side that invited (``sender``) shares tickets,
the other (``receiver``) works on them. Each action changes the row and
queues the request telling the partner, in one transaction. Accepting is
only final once the sender has taken our answer (``accepting`` until then):
anyone can send an invitation, and one naming a real help desk's address
must not open our door before that help desk says it is theirs.
The partner's own requests are :mod:`bot.sharing.invitations`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.errors import Conflict, NotFound, UserError
from bot.model import Actor
from bot.notify import outbox
from bot.people.permissions import require_admin
from bot.sharing import pending, wire
from bot.sharing import protocol as p
from bot.store import tables as t
from bot.unit import Unit

logger = logging.getLogger(__name__)


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
    # The client address an invitation we received came from (None for ours).
    invited_from: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Partner:
    """What the outbox's client needs: where the partner is, the token, and whether it is in force."""

    id: int
    url: str
    token: str
    status: str


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
        url = wire.check_partner_url(unit, partner_url, "the partner's sharing URL")
    except p.ProtocolError as error:
        raise UserError(error.message, field="url") from None
    ours = wire.check_own_url(unit)
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
    # The access key is added by the client as it sends: the outbox never holds it.
    body = {**wire.agreement_json(unit, row), "current_actor": wire.actor_json(unit, actor)}
    wire.send(unit, row, "POST", f"agreements/{row.uuid}", body, f"invite:{row.id}")
    _audit(unit, actor, row, AuditKind.SHARING_INVITED, {"partner_url": url})
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
        if pending.is_expired(unit, row):
            raise Conflict(
                f"agreement {row.id}: the invitation is older than sharing.invitation_ttl_days; "
                "the partner may invite again",
                field="status",
            )
        try:
            wire.check_partner_url(unit, row.sender_url, "the partner's sharing URL")
        except p.ProtocolError as error:
            raise Conflict(f"agreement {row.id}: {error.message}", field="status") from None
        row.status = wire.ACCEPTING if status == p.ACCEPTED else p.DECLINED
    elif status == p.INACTIVE:
        if row.status not in (p.ACCEPTED, wire.ACCEPTING):
            raise Conflict(
                f"agreement {row.id} is {row.status}: only an accepted one can end", field="status"
            )
        row.status, row.deactivated_by = p.INACTIVE, row.side
    else:
        raise UserError(f"{status!r}: use accepted, declined or inactive", field="status")
    row.updated_at = unit.now
    body: dict[str, Any] = {
        "uuid": row.uuid,
        "status": status,
        "name": unit.settings.sharing.name,
        "current_actor": wire.actor_json(unit, actor),
    }
    if status == p.INACTIVE:
        body["deactivated_by"] = row.side
    if row.side == p.RECEIVER:
        body["receiver_url"] = row.receiver_url
    confirms = {"confirms": status} if status == p.ACCEPTED else {}
    key = f"{status}:{row.id}:{unit.now.isoformat()}"
    wire.send(unit, row, "PUT", f"agreements/{row.uuid}", body, key, extra=confirms)
    _audit(unit, actor, row, wire.STATUS_KINDS[status], {"status": row.status})
    return _view(unit, row)


def confirm(unit: Unit, agreement_id: int, taken: bool, detail: str = "") -> None:
    """The sender took our acceptance (it is in force) or refused it for good (pending again,
    with the reason in the delivery log: an invitation in a help desk's name it did not send)."""
    row = unit.session.get(t.SharingAgreement, agreement_id, with_for_update=True)
    if row is None or row.status != wire.ACCEPTING:
        return
    row.status = p.ACCEPTED if taken else p.PENDING
    row.updated_at = unit.now
    outcome = "in force" if taken else f"refused by the partner: {detail}"
    _audit(
        unit,
        wire.partner_actor(row),
        row,
        AuditKind.SHARING_CONFIRMED,
        {"status": row.status, "outcome": outcome},
    )
    logger.info("sharing agreement %s: acceptance %s", row.id, outcome)


def agreements(unit: Unit, actor: Actor) -> list[AgreementView]:
    require_admin(actor, "list sharing agreements")
    rows = unit.session.scalars(select(t.SharingAgreement).order_by(t.SharingAgreement.id))
    return [_view(unit, row) for row in rows]


def agreement(unit: Unit, actor: Actor, agreement_id: int) -> AgreementView:
    require_admin(actor, "read sharing agreements")
    return _view(unit, _get(unit, agreement_id))


def partner(unit: Unit, agreement_id: int) -> Partner | None:
    """For the outbox's client, which runs for no person: None when the agreement is gone."""
    row = unit.session.get(t.SharingAgreement, agreement_id)
    if row is None:
        return None
    return Partner(row.id, wire.partner_url(row), p.token(row.uuid, row.access_key), row.status)


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
            t.Notification.channel == wire.CHANNEL,
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
        partner_url=wire.partner_url(row),
        status=row.status,
        deactivated_by=row.deactivated_by,
        sync_tags=row.sync_tags,
        sync_custom_fields=row.sync_custom_fields,
        allows_public_comments=row.allows_public_comments,
        shared_tickets=shared or 0,
        delivery_error=failed,
        invited_from=row.invited_from,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _audit(unit: Unit, actor: Actor, row: t.SharingAgreement, kind: AuditKind, after: dict[str, Any]) -> None:
    audit.record(unit, ticket_id=None, actor=actor, kind=kind, after={"agreement": row.id, **after})


def _verb(status: str) -> str:
    return {p.ACCEPTED: "accept", p.DECLINED: "decline", p.INACTIVE: "deactivate"}.get(status, "change")
