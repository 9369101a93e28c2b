"""Where a new ticket goes and who gets it: the first matching routing rule, then
round-robin or least-loaded within its team; pure."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


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
    # The keywords as one pattern, built once per compiled rule book, not per ticket, and
    # case-folded for a quick substring test that spares most texts the pattern search.
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    _folded: tuple[str, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pattern", keyword_pattern(self.keywords))
        object.__setattr__(self, "_folded", tuple(word.strip().casefold() for word in self.keywords))

    def matches(
        self, channel: str, mailbox: str | None, sender: str | None, text: str, folded: str | None = None
    ) -> bool:
        """Every condition the rule has holds for this message. ``folded`` is
        ``text.casefold()``, passed in when many rules look at one text."""
        if self.channel and self.channel != channel:
            return False
        if self.mailbox and self.mailbox.lower() != (mailbox or "").lower():
            return False
        if self.sender and not sender_matches(self.sender, sender):
            return False
        if self._pattern is None:
            return True
        haystack = text.casefold() if folded is None else folded
        # A keyword that is not even a substring cannot be a whole word; the pattern decides the rest.
        return any(word in haystack for word in self._folded) and self._pattern.search(text) is not None


def sender_matches(pattern: str, email: str | None) -> bool:
    """``@example.com`` takes everyone at that domain (not its subdomains); else one address."""
    if not email:
        return False
    address, wanted = email.strip().lower(), pattern.strip().lower()
    if wanted.startswith("@"):
        return address.endswith(wanted)
    return address == wanted


def keyword_pattern(keywords: Sequence[str]) -> re.Pattern[str] | None:
    """Whole words or phrases, any case: ``vpn`` matches "VPN down" but not "vpnclient"."""
    alternatives = "|".join(re.escape(word) for word in keywords if word.strip())
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE) if alternatives else None


def first_route(
    routes: Sequence[Route], channel: str, mailbox: str | None, sender: str | None, text: str
) -> Route | None:
    """Rules are tried in order and the first match wins, so their order is the admins' priority."""
    folded = text.casefold()
    return next((route for route in routes if route.matches(channel, mailbox, sender, text, folded)), None)
