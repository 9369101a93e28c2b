"""Who may do what, by role: one place for the checks every service shares."""

from __future__ import annotations

from bot.errors import Forbidden, NotFound
from bot.model import Actor, Role, format_number
from bot.store import tables as t

__all__ = ["is_party", "require_admin", "require_party", "require_staff", "ticket_not_found"]


def require_staff(actor: Actor, action: str) -> None:
    """Requesters comment on their own tickets; working tickets is for agents and admins."""
    if not actor.role.is_staff:
        raise Forbidden(f"only agents and admins can {action}; {actor.label} is a {actor.role}")


def require_admin(actor: Actor, action: str) -> None:
    """Configuration and people are the admins' (the console acts as an admin)."""
    if actor.role is not Role.ADMIN:
        raise Forbidden(f"only admins can {action}; {actor.label} is a {actor.role}")


def ticket_not_found(prefix: str, ticket_id: int) -> NotFound:
    """The one answer for a ticket that does not exist and for one the person may not see:
    told apart, they would let a requester probe which numbers are someone else's."""
    return NotFound(f"no ticket {format_number(prefix, ticket_id)}", field="number")


def is_party(actor: Actor, ticket: t.Ticket) -> bool:
    """Staff, the requester or a follower: the people who may know the ticket exists."""
    if actor.role.is_staff or actor.person_id == ticket.requester_id:
        return True
    return actor.person_id is not None and actor.person_id in {p.id for p in ticket.followers}


def require_party(actor: Actor, ticket: t.Ticket, prefix: str) -> None:
    """Anyone else is answered as if the ticket did not exist (see :func:`ticket_not_found`).
    Checked before any other refusal, so none of them (403, 409) reveals the ticket either."""
    if not is_party(actor, ticket):
        raise ticket_not_found(prefix, ticket.id)
