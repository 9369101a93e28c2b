"""Each ticket's SLA clocks kept current as it changes, and when the sweep must look again.

Every change to a ticket goes through :func:`bot.tickets.changes.touch`, which calls
:func:`refresh`: the clock pauses while the ticket waits on the customer (or
is resolved or closed) and resumes after, the due times follow the policy for
its current priority and category, and ``sla_next_check_at`` is set to the
next instant anything could change without an event: the status turning at
risk or breached, or the next ladder level. The sweep reads only tickets whose
check is due, through an index on that column.
"""

from __future__ import annotations

from datetime import datetime

from bot.model import Status
from bot.sla import calendar as sla
from bot.sla.policy import Level, Threshold
from bot.store import tables as t
from bot.unit import Unit

# While in these, the clocks stand still: the ball is with the customer, or it is done.
# Escalation rows of the resolution target's levels are numbered from here.
RESOLUTION_LEVELS = 100
STOPPED = (Status.WAITING_CUSTOMER.value, Status.RESOLVED.value, Status.CLOSED.value)
FINISHED = (Status.RESOLVED.value, Status.CLOSED.value)


def clock_of(ticket: t.Ticket) -> sla.SlaClock:
    return sla.SlaClock(
        started_at=ticket.created_at,
        paused_since=ticket.sla_paused_since,
        paused_seconds=ticket.sla_paused_seconds or 0.0,
        first_response_at=ticket.first_response_at,
        resolved_at=(ticket.resolved_at or ticket.closed_at) if ticket.status in FINISHED else None,
        first_response_paused_seconds=ticket.first_response_paused_seconds,
    )


def first_response(unit: Unit, ticket: t.Ticket) -> None:
    """An agent's first public answer: met now, judged against the pauses until now."""
    if ticket.first_response_at is not None:
        return
    clock = sla.record_first_response(clock_of(ticket), unit.now, policy_of(unit, ticket).calendar)
    ticket.first_response_at = clock.first_response_at
    ticket.first_response_paused_seconds = clock.first_response_paused_seconds
    # The ladder starts again for the resolution target (its levels are keyed apart).
    ticket.escalation_level = 0


def policy_of(unit: Unit, ticket: t.Ticket) -> sla.Policy:
    return unit.rules.policies.for_ticket(ticket.priority, ticket.category.path if ticket.category else None)


def refresh(unit: Unit, ticket: t.Ticket) -> sla.SlaState:
    """Bring the ticket's SLA fields up to date with its status, priority and category now."""
    policy = policy_of(unit, ticket)
    clock = clock_of(ticket)
    if ticket.status in STOPPED and clock.paused_since is None:
        clock = sla.pause(clock, unit.now)
    elif ticket.status not in STOPPED and clock.paused_since is not None:
        clock = sla.resume(clock, unit.now, policy.calendar)
    ticket.sla_paused_since = clock.paused_since
    ticket.sla_paused_seconds = clock.paused_seconds
    ticket.sla_policy = policy.name
    # A resolved ticket's targets are settled: judged at its resolution, with the pause
    # it may have been in (waiting on the customer) closed then, not left running.
    judged = clock
    if ticket.status in FINISHED and clock.resolved_at is not None:
        judged = sla.resume(
            clock, max(clock.resolved_at, clock.paused_since or clock.resolved_at), policy.calendar
        )
    state = sla.evaluate(judged, policy, unit.now)
    if state.status is sla.SlaStatus.BREACHED and ticket.sla_breached_at is None:
        ticket.sla_breached_at = unit.now
    # A breach stays on record: lowering the priority later does not make it on time.
    ticket.sla_status = sla.SlaStatus.BREACHED.value if ticket.sla_breached_at else state.status.value
    ticket.first_response_due = state.first_response_due
    ticket.resolution_due = state.resolution_due
    ticket.sla_next_check_at = _next_check(unit, ticket, clock, policy, state)
    return state


def _next_check(
    unit: Unit, ticket: t.Ticket, clock: sla.SlaClock, policy: sla.Policy, state: sla.SlaState
) -> datetime | None:
    if ticket.status in STOPPED:
        return None
    candidates = [state.next_change_at]
    candidates += [
        threshold_time(level.threshold, ticket, clock, policy, state)
        for level in waiting_levels(unit, ticket)
    ]
    times = [when for when in candidates if when is not None]
    return min(times) if times else None


def waiting_levels(unit: Unit, ticket: t.Ticket) -> list[Level]:
    """Ladder levels above the ticket's current one, in order.

    The ladder only climbs: a level whose threshold does not apply yet (no
    customer message waiting) is passed over once a higher level fires.
    """
    if not unit.settings.enable_escalation:
        return []
    return [level for level in unit.rules.ladder if level.number > ticket.escalation_level]


def level_key(level: Level, state: sla.SlaState) -> int:
    """The level's row in ``escalations``: share thresholds count per SLA target (first
    response, then resolution), time thresholds once per ticket."""
    if level.threshold.share is not None and state.active_target == "resolution":
        return RESOLUTION_LEVELS + level.number
    return level.number


def threshold_time(
    threshold: Threshold, ticket: t.Ticket, clock: sla.SlaClock, policy: sla.Policy, state: sla.SlaState
) -> datetime | None:
    """When ``threshold`` passes for this ticket; None if it cannot while nothing changes."""
    if threshold.share is not None:
        target = _active_seconds(policy, state)
        if target is None:
            return None
        return sla.time_when_share(clock, target, threshold.share, policy.calendar)
    assert threshold.delay is not None
    if threshold.after_customer:
        waiting = ticket.last_customer_message_at
        return waiting + threshold.delay if waiting is not None else None
    return ticket.created_at + threshold.delay


def _active_seconds(policy: sla.Policy, state: sla.SlaState) -> int | None:
    if state.active_target == "first_response":
        return policy.targets.first_response_seconds
    if state.active_target == "resolution":
        return policy.targets.resolution_seconds
    return None


def running_due(ticket: t.Ticket) -> tuple[str, datetime | None]:
    """The target the team is working against now, and when it is due."""
    if ticket.first_response_at is None:
        return "first response", ticket.first_response_due
    return "resolution", ticket.resolution_due


def view(ticket: t.Ticket) -> dict[str, object]:
    """What channels show: status, due times and the ladder's level, as last evaluated."""
    return {
        "sla_status": ticket.sla_status,
        "first_response_due": ticket.first_response_due,
        "resolution_due": ticket.resolution_due,
        "escalation_level": ticket.escalation_level,
    }
