"""Who hears how: each person's channels per kind of event, with defaults that fit their role.

A requester hears where they asked (Slack DM if they opened the ticket in
Slack, else email); an agent by email. Anyone can choose ``email``,
``slack``, ``both`` or ``none`` per event with ``supportbot people prefs``,
and ``[notifications]`` turns an event off for everyone.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.errors import UserError
from bot.model import Actor, Role
from bot.people import directory
from bot.store import tables as t
from bot.unit import Unit

EVENTS = (
    "ticket_opened",
    "agent_replied",
    "customer_replied",
    "status_changed",
    "assigned",
    "sla_warning",
    "escalation",
    "auto_close",
)
CHOICES = {"email": ("email",), "slack": ("slack",), "both": ("email", "slack"), "none": ()}


def check_event(event: str) -> str:
    if event not in EVENTS:
        raise UserError(f"unknown event {event!r}; use one of: {', '.join(EVENTS)}", field="event")
    return event


def channels_for(unit: Unit, person: t.Person, event: str, *, came_by_slack: bool) -> tuple[str, ...]:
    """The channels to reach ``person`` on for ``event``; empty when they (or the settings) say none."""
    if not getattr(unit.settings.notifications, event, True):
        return ()
    chosen = unit.once(
        ("notification_pref", person.id, event),
        lambda: unit.session.scalar(
            select(t.NotificationPref.channels).where(
                t.NotificationPref.person_id == person.id, t.NotificationPref.event == event
            )
        ),
    )
    if chosen is not None:
        return CHOICES.get(chosen, ("email",))
    if (not Role(person.role).is_staff and came_by_slack) or (person.slack_user_id and not person.email):
        return ("slack",)
    return ("email",)


def preferences(unit: Unit, email: str) -> dict[str, str]:
    """Every event with the person's choice, or ``default``."""
    person = directory.find_person(unit, email)
    chosen = dict(
        unit.session.execute(
            select(t.NotificationPref.event, t.NotificationPref.channels).where(
                t.NotificationPref.person_id == person.id
            )
        ).all()
    )
    return {event: chosen.get(event, "default") for event in EVENTS}


def set_preference(unit: Unit, actor: Actor, email: str, event: str, channels: str) -> dict[str, str]:
    """``default`` removes the choice; changing someone else's needs an admin or the console."""
    person = directory.find_person(unit, email)
    check_event(event)
    if channels not in (*CHOICES, "default"):
        raise UserError(
            f"unknown channels {channels!r}; use email, slack, both, none or default", field="channels"
        )
    if actor.person_id not in (None, person.id) and actor.role is not Role.ADMIN:
        raise UserError("only admins change other people's notification preferences", field="email")
    row = unit.session.get(t.NotificationPref, (person.id, event))
    before = row.channels if row else "default"
    if channels == "default":
        if row is not None:
            unit.session.delete(row)
    elif row is None:
        unit.session.add(t.NotificationPref(person_id=person.id, event=event, channels=channels))
    else:
        row.channels = channels
    unit.session.flush()
    if before != channels:
        audit.record(
            unit,
            ticket_id=None,
            actor=actor,
            kind=AuditKind.PREFERENCE_CHANGED,
            before={"person": person.email, event: before},
            after={"person": person.email, event: channels},
        )
    return preferences(unit, email)
