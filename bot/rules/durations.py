"""Durations as admins write them in time rules (``30m``, ``4h``, ``1d12h``, ``2w``).

Minutes are the smallest unit because the scheduler checks time rules about once a
minute; a year is the largest because a wait counted in business hours runs several
times longer on the calendar.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bot.errors import UserError

UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60}
MIN_SECONDS = 60
MAX_SECONDS = 365 * 86400
# Units largest first, each at most once: the order people read them in.
_DURATION = re.compile(r"(?:(\d{1,6})w)?(?:(\d{1,6})d)?(?:(\d{1,6})h)?(?:(\d{1,6})m)?")
_EXAMPLE = "write a duration like 30m, 4h, 3d, 2w or 1d12h"


def parse_duration(text: str, *, field: str | None = None) -> int:
    """Seconds in ``text``, from 1 minute to 365 days; ``field`` names the part at fault."""
    where = f"{field}: " if field else ""
    shown = repr(text) if len(repr(text)) <= 40 else repr(text)[:37] + "..."
    compact = text.replace(" ", "").lower() if isinstance(text, str) else ""
    found = _DURATION.fullmatch(compact) if compact else None
    if found is None:
        raise UserError(f"{where}{shown} is not a duration: {_EXAMPLE}", field=field)
    seconds = sum(int(amount) * unit for amount, unit in zip(found.groups("0"), UNITS.values(), strict=True))
    if seconds < MIN_SECONDS:
        raise UserError(f"{where}{shown} is too short: the shortest wait is 1m", field=field)
    if seconds > MAX_SECONDS:
        raise UserError(f"{where}{shown} is too long: the longest wait is 365d", field=field)
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest text :func:`parse_duration` reads back as ``seconds`` (``1d12h``).
    Seconds below a minute, which rules never hold, are shown rather than lost."""
    if seconds <= 0:
        return "0m"
    parts = []
    rest = seconds
    for name, unit in UNITS.items():
        amount, rest = divmod(rest, unit)
        if amount:
            parts.append(f"{amount}{name}")
    if rest:
        parts.append(f"{rest}s")
    return "".join(parts)


def since_of(text: str | None, now: datetime) -> datetime | None:
    """Where a window starts, as people write it: a duration back from ``now`` (``30d``) or an
    ISO instant (UTC when it names no offset); None for none given."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if text[0].isdigit() and text[-1].isalpha() and "-" not in text:
        return now - timedelta(seconds=parse_duration(text, field="since"))
    try:
        at = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise UserError(
            f"since: {text[:40]!r} is neither a duration like 30d nor an ISO date and time", field="since"
        ) from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
