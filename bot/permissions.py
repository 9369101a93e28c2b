"""Who may do what, by role: one place for the checks every service shares."""

from __future__ import annotations

from bot.errors import Forbidden
from bot.model import Actor, Role

__all__ = ["require_admin", "require_staff"]


def require_staff(actor: Actor, action: str) -> None:
    """Requesters comment on their own tickets; working tickets is for agents and admins."""
    if not actor.role.is_staff:
        raise Forbidden(f"only agents and admins can {action}; {actor.label} is a {actor.role}")


def require_admin(actor: Actor, action: str) -> None:
    """Configuration and people are the admins' (the console acts as an admin)."""
    if actor.role is not Role.ADMIN:
        raise Forbidden(f"only admins can {action}; {actor.label} is a {actor.role}")
