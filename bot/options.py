"""How a settings field states its bounds or choices, for the loader to check.

Shared by every settings dataclass: the channels' (:mod:`bot.config.channels`)
and the SLA's (:mod:`bot.sla.settings`), which sit in different packages.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any


def option(
    default: Any, *, minimum: int | None = None, maximum: int | None = None, choices: tuple[str, ...] = ()
) -> Any:
    """A setting with the bounds or choices the loader checks."""
    return field(default=default, metadata={"minimum": minimum, "maximum": maximum, "choices": choices})
