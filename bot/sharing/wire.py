"""What both directions share: our sharing URL, how a request to a partner is queued, how
our people and agreements look on the wire, and which partner addresses we will call.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from bot.audit.kinds import AuditKind
from bot.errors import UserError
from bot.model import Actor, Role
from bot.network import is_private_host
from bot.notify import outbox
from bot.sharing import protocol as p
from bot.store import tables as t
from bot.unit import Unit

# The outbox channel our requests to partners travel on.
CHANNEL = "sharing"
# A local-only agreement state: we accepted, the sender has not confirmed receiving it yet.
ACCEPTING = "accepting"
# What the audit log calls an agreement's move to each status.
STATUS_KINDS = {
    p.ACCEPTED: AuditKind.SHARING_ACCEPTED,
    p.DECLINED: AuditKind.SHARING_DECLINED,
    p.INACTIVE: AuditKind.SHARING_INACTIVE,
}


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
    extra: dict[str, Any] | None = None,
) -> None:
    """Queue one request to the partner; ``key`` names the change, so telling it twice sends once.

    ``extra`` tells the client what to fill in when it sends (the ticket's status as it is
    then, the access key, which is never kept in the outbox) and what to confirm after.
    """
    outbox.enqueue(
        unit.session,
        now=unit.now,
        channel=CHANNEL,
        recipient=str(row.id),
        recipient_name=row.partner_name or None,
        template=f"{method} {path.split('/')[0]}",
        context={"method": method, "path": path, "body": body, **(extra or {})},
        dedupe_key=f"sharing:{row.id}:{key}",
        ticket_id=ticket_id,
    )


def actor_json(unit: Unit, actor: Actor) -> dict[str, Any]:
    """Who did it, as the partner sees them: a stable uuid and a name, never an email."""
    person = unit.session.get(t.Person, actor.person_id) if actor.person_id else None
    if person is not None:
        return person_json(unit, person)
    return {
        "uuid": p.resource_uuid(our_url(unit), "users", actor.label),
        "name": unit.settings.sharing.name,
        "role": "agent",
    }


def person_json(unit: Unit, person: t.Person) -> dict[str, Any]:
    role = {"admin": "admin", "agent": "agent"}.get(person.role, "end-user")
    return {
        "uuid": p.resource_uuid(our_url(unit), "users", person.id),
        "name": person.name or (person.email or "").partition("@")[0] or f"user {person.id}",
        "role": role,
    }


def agreement_json(unit: Unit, row: t.SharingAgreement) -> dict[str, Any]:
    return {
        "uuid": row.uuid,
        "name": unit.settings.sharing.name,
        "sender_url": row.sender_url,
        "receiver_url": row.receiver_url,
        "status": p.ACCEPTED if row.status == ACCEPTING else row.status,
        "deactivated_by": row.deactivated_by,
        "sync_tags": row.sync_tags,
        "sync_custom_fields": row.sync_custom_fields,
        "allows_public_comments": row.allows_public_comments,
    }


def partner_actor(row: t.SharingAgreement) -> Actor:
    """The partner as a whole, for the audit log, when no person of theirs is named."""
    return Actor(None, f"sharing:{row.uuid[:12]}", Role.AGENT)


def partner_url(row: t.SharingAgreement) -> str:
    return row.receiver_url if row.side == p.SENDER else row.sender_url


def check_partner_url(unit: Unit, url: str, what: str) -> str:
    """Where we will send the agreement's secret: https, or plain http to a private address
    when ``sharing.allow_private_addresses`` says partners live on this network.

    Host names are resolved when each request is sent, and the connection goes to the
    address that was checked (:mod:`channels.outbound_http`).
    """
    clean = p.check_url(url, what)
    parts = urlsplit(clean)
    private = is_private_host(parts.hostname or "")
    if private and not unit.settings.sharing.allow_private_addresses:
        raise p.ProtocolError(
            422, f"{what} is a private or loopback address (sharing.allow_private_addresses is off)"
        )
    if parts.scheme != "https" and not private:
        raise p.ProtocolError(422, f"{what} must be https: the agreement's secret travels to it")
    return clean


def check_own_url(unit: Unit) -> str:
    """Partners reach us at our sharing URL, and the invitation carries the secret."""
    try:
        return check_partner_url(unit, our_url(unit), "this help desk's sharing URL (sharing.public_url)")
    except p.ProtocolError as error:
        raise UserError(f"{error.message}; set sharing.public_url", field="url") from None
