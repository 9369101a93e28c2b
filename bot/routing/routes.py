"""Who gets a ticket within its team: round-robin or least-loaded; pure. (Where it goes is
decided by "ticket created" automation rules: :mod:`bot.policies.new_ticket`.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def next_round_robin(agent_ids: Sequence[int], last_assigned: int | None) -> int | None:
    """The agent after ``last_assigned`` in id order, wrapping around; stable as people join and leave."""
    if not agent_ids:
        return None
    ordered = sorted(agent_ids)
    if last_assigned is None:
        return ordered[0]
    for agent in ordered:
        if agent > last_assigned:
            return agent
    return ordered[0]


def least_loaded(open_counts: Mapping[int, int]) -> int | None:
    """The agent with the fewest open tickets; ties go to the lowest id so the choice is repeatable."""
    if not open_counts:
        return None
    return min(open_counts, key=lambda agent: (open_counts[agent], agent))
