"""The log as ``supportbot serve`` writes it, captured: the real configure_logging on a string stream."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from channels.bootstrap import configure_logging


@contextmanager
def served_log(level: str = "INFO") -> Iterator[io.StringIO]:
    """What the configured handler writes; pytest's own handlers are set aside meanwhile.

    configure_logging leaves logging alone once it is set up, as it is by pytest
    inside a test, so the root's handlers are swapped out and restored after.
    """
    root = logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    root.handlers.clear()
    stream = io.StringIO()
    try:
        configure_logging(level, stream=stream)
        yield stream
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = handlers
        root.setLevel(root_level)
