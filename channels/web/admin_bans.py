"""The ban list's administration page: addresses and domains whose mail is refused or held.

A section of the administration pages like the others (admin.py reads it, admin_forms.py's
``Action`` runs its forms): each form makes the desk call the API and the CLI make, so what
a valid pattern is stays the core's, and a refusal is shown beside its form.
"""

from __future__ import annotations

from typing import Any

from bot.desk.facade import Desk
from bot.model import Actor
from channels.web.admin_forms import Action, Ids, Outcome, Values


def read_bans(desk: Desk, actor: Actor, ids: Ids, edit: str) -> dict[str, Any]:
    return {"bans": desk.bans(actor), "banned_action": desk.settings.email.banned_action}


def add_ban(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    desk.ban_sender(actor, values.text("pattern", 320), values.text("note", 500))
    return "added"


def remove_ban(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    desk.unban_sender(actor, str(ids["ban_id"]))
    return "removed"


ACTIONS = (
    Action("/admin/bans", "bans", "add_ban", add_ban),
    Action("/admin/bans/{ban_id:int}/remove", "bans", "remove_ban", remove_ban),
)
