"""Where a new ticket goes and who gets it: the first matching routing rule, then
round-robin or least-loaded within its team; pure."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


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


@dataclass(frozen=True, slots=True)
class Route:
    """A routing rule as the matcher sees it: empty conditions do not narrow."""

    id: int
    name: str
    channel: str = ""
    mailbox: str = ""
    sender: str = ""
    keywords: tuple[str, ...] = ()
    team_id: int | None = None
    category_id: int | None = None
    priority: str = ""
    tags: tuple[str, ...] = ()

    def matches(self, channel: str, mailbox: str | None, sender: str | None, text: str) -> bool:
        if self.channel and self.channel != channel:
            return False
        if self.mailbox and self.mailbox.lower() != (mailbox or "").lower():
            return False
        if self.sender and not sender_matches(self.sender, sender):
            return False
        return not self.keywords or mentions_any(self.keywords, text)


def sender_matches(pattern: str, email: str | None) -> bool:
    """``@example.com`` takes everyone at that domain (not its subdomains); else one address."""
    if not email:
        return False
    address, wanted = email.strip().lower(), pattern.strip().lower()
    if wanted.startswith("@"):
        return address.endswith(wanted)
    return address == wanted


def mentions_any(keywords: Sequence[str], text: str) -> bool:
    """Whole words or phrases, any case: ``vpn`` matches "VPN down" but not "vpnclient"."""
    pattern = "|".join(re.escape(word) for word in keywords if word.strip())
    return bool(pattern) and re.search(rf"(?<!\w)(?:{pattern})(?!\w)", text, re.IGNORECASE) is not None


def first_route(
    routes: Sequence[Route], channel: str, mailbox: str | None, sender: str | None, text: str
) -> Route | None:
    """Rules are tried in order and the first match wins, so their order is the admins' priority."""
    return next((route for route in routes if route.matches(channel, mailbox, sender, text)), None)
