"""Who the bot never writes to: its own mailboxes and robots (no-reply, mailer-daemon, ...)."""

from __future__ import annotations

import re

from bot.unit import Unit

ROBOT_LOCAL_PARTS = re.compile(r"^(no-?reply|do-?not-?reply|mailer-daemon|postmaster|bounces?)([+._-].*)?$")


def is_own_or_robot(unit: Unit, email: str | None) -> bool:
    """Our own mailboxes and addresses no person reads: never answered, never followers."""
    if not email:
        return False
    local, _, domain = email.lower().partition("@")
    base = f"{local.partition('+')[0]}@{domain}"  # support+sup-1.x@ is still support@
    own = {unit.settings.email.from_address.lower(), *(m.address.lower() for m in unit.settings.mailboxes)}
    if base in own:
        return True
    return bool(ROBOT_LOCAL_PARTS.match(local))
