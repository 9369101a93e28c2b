"""Bounded polling for what a real server, thread or process does in its own time.

Tests wait for an effect instead of sleeping a guess; the time-out is only how
long a loaded machine may take, never part of what the test asserts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    *,
    seconds: float = 10.0,
    what: str = "the condition",
    interval: float = 0.02,
    explain: Callable[[], str] | None = None,
) -> T:
    """Call ``condition`` until it returns something true, and return that.

    After ``seconds`` fail naming ``what``, with ``explain()`` (a server's log,
    say) appended. ``condition`` may itself fail early, e.g. when the process
    it waits on has exited."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"\n{explain()}" if explain is not None else ""
            raise AssertionError(f"not within {seconds} s: {what}{detail}")
        time.sleep(interval)
