"""Settings of SLA policies, the escalation ladder and who hears about what.

Kept apart from :mod:`bot.config.settings`; the loader there builds and checks them
like every other section. Durations are written ``90s``, ``15m``, ``4h`` or
``2d``; a priority's targets as ``<first response>/<resolution>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.options import option


@dataclass(frozen=True, slots=True)
class SlaSettings:
    """The default policy: targets per priority and the business hours they count in."""

    sweep_seconds: int = option(30, minimum=1)
    at_risk_percent: int = option(75, minimum=1, maximum=99)
    timezone: str = "UTC"
    # Empty: 24/7. Else e.g. "mon-fri 09:00-17:00" or "mon-thu 08:00-17:00; fri 08:00-12:00,13:00-15:00".
    business_hours: str = ""
    holiday_country: str = ""
    holiday_subdivision: str = ""
    # Extra closed days, ISO dates separated by commas.
    holidays: str = ""
    urgent: str = "15m/4h"
    high: str = "1h/8h"
    medium: str = "4h/24h"
    low: str = "8h/48h"


@dataclass(frozen=True, slots=True)
class SlaPolicyOverride:
    """``[[sla_policies]]``: other targets (and hours) for a category, optionally one priority."""

    category: str = ""
    priority: str = ""
    first_response: str = ""
    resolution: str = ""
    # Empty: the default policy's.
    timezone: str = ""
    business_hours: str = ""
    holiday_country: str = ""
    holidays: str = ""


@dataclass(frozen=True, slots=True)
class EscalationLevel:
    """``[[escalation_levels]]``: when a level fires, whom it tells and what it changes.

    ``at``: ``70%`` of the running SLA target (``100%`` is the breach), ``4h``
    since the ticket was opened, or ``2h after customer`` (a customer's message
    left unanswered that long). ``notify``: comma-separated ``assignee``,
    ``team_lead``, ``managers``, ``support_channel``, ``person:EMAIL``,
    ``email:ADDRESS``, ``slack:CHANNEL_ID``.
    """

    at: str = ""
    notify: str = ""
    raise_priority: bool = False
    reassign_team: str = ""


DEFAULT_LADDER = (
    EscalationLevel(at="70%", notify="assignee"),
    EscalationLevel(at="85%", notify="team_lead"),
    EscalationLevel(at="95%", notify="managers"),
    EscalationLevel(at="100%", notify="managers,support_channel"),
)


@dataclass(frozen=True, slots=True)
class EscalationSettings:
    # Who "managers" are: emails separated by commas; empty: every admin.
    managers: str = ""


@dataclass(frozen=True, slots=True)
class NotificationSettings:
    """Which events notify anyone at all; each person then picks channels (people prefs)."""

    ticket_opened: bool = True
    agent_replied: bool = True
    customer_replied: bool = True
    status_changed: bool = True
    assigned: bool = True
    sla_warning: bool = True
    escalation: bool = True
    auto_close: bool = True
