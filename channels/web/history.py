"""A ticket's audit events as the workspace tells them: "Bo replied", "Bo moved it to team Ops"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.views import EventView, PersonView

# How the audit log names an automation rule that made a change.
RULE_ACTOR = "rule: "
# How a comment's channel is marked on the page.
CHANNELS = {
    "email": "email",
    "slack": "Slack",
    "web": "web",
    "api": "API",
    "cli": "console",
    "sharing": "partner",
    "automation": "automation rule",
}


def describe(event: EventView, names: Mapping[str, str]) -> str:
    """An audit event as a sentence: "Bo replied", "Bo changed the status to resolved"."""
    who = {"system": "The desk", "cli": "An operator"}.get(event.actor) or names.get(event.actor, event.actor)
    if event.actor.startswith(RULE_ACTOR):  # bot.automation.actions.actor_of
        who = f"The rule “{event.actor.removeprefix(RULE_ACTOR)}”"
    after, kind = event.after or {}, event.kind
    if kind == "automation_chain_stopped":
        return f"Automation rules stopped after {after.get('depth')} rounds of changing this ticket"
    if kind == "commented":
        return f"{who} {'replied' if after.get('public', True) else 'added an internal note'}"
    if kind == "status_changed":
        return f"{who} changed the status to {str(after.get('status', '?')).replace('_', ' ')}"
    if kind == "assigned":
        target = after.get("assignee")
        return f"{who} assigned it to {names.get(target, target)}" if target else f"{who} unassigned it"
    if kind == "priority_changed":
        return f"{who} set the priority to {after.get('priority')}"
    if kind == "category_changed":
        category = after.get("category")
        return f"{who} set the category to {category}" if category else f"{who} cleared the category"
    if kind == "team_changed":
        team = after.get("team")
        return f"{who} moved it to team {team}" if team else f"{who} took it out of its team"
    if kind == "tags_changed":
        tags = after.get("tags") or []
        return f"{who} set the tags to {', '.join(tags)}" if tags else f"{who} removed every tag"
    if kind == "field_changed":
        return f"{who} changed {', '.join(after) or 'a field'}"
    if kind == "escalated":
        reason = after.get("reason")
        if after.get("level") not in (None, "manual"):
            return f"{who} escalated it to level {after.get('level')}"
        return f"{who} escalated it" + (f": {reason}" if reason else "")
    if kind == "merged":
        return f"{who} merged it into {after.get('merged_into')}"
    if kind == "merged_from":
        return f"{who} merged {after.get('merged_from')} into it"
    if kind == "created":
        return f"{who} opened it"
    if kind == "received":
        channel = str(after.get("channel", ""))
        return f"{who} wrote in by {CHANNELS.get(channel, channel or 'a channel')}"
    return f"{who}: {kind.replace('_', ' ')}"


def names_of(staff: Sequence[PersonView]) -> dict[str, str]:
    """How the desk's labels (emails) of staff are shown in sentences and lists: by name."""
    return {person.label: person.name or person.label for person in staff}
