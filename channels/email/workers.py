"""The email channel's own threads: mail is parsed and stored there, never on the event loop's default pool.

Parsing costs what the sender chooses to make it cost. In the default pool a
few hostile mails queued the API's database calls and ``/healthz`` behind
them for over a minute; here they can only queue other mail. Two bounded
pools: ``ingest`` runs a whole SMTP message (parse, then the store), and
``parse`` runs the parse step of SMTP and IMAP mail under a time limit. A
parse that runs past it is abandoned (a Python thread cannot be stopped: it
finishes in the background and its result is dropped) and the message is
read by :func:`parse_cheaply` instead, so it is still stored, raw, with its
text. Two pools rather than one so an ingest thread waiting on its parse can
never wait on itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from bot.config import EmailSettings
from channels.email.parse import ParsedEmail, parse, parse_cheaply

logger = logging.getLogger(__name__)

T = TypeVar("T")


class MailWorkers:
    """Owned by whoever builds it (``serve`` builds one for SMTP and IMAP); :meth:`shutdown` on stop."""

    def __init__(self, options: EmailSettings | None = None) -> None:
        self.options = options or EmailSettings()
        threads = self.options.ingest_threads
        self._ingest = ThreadPoolExecutor(threads, thread_name_prefix="mail-ingest")
        self._parse = ThreadPoolExecutor(threads, thread_name_prefix="mail-parse")

    def parse(self, raw: bytes, *, envelope_sender: str | None) -> ParsedEmail:
        """Blocking, from an ingest or IMAP thread: the full parse, or the cheap one past the time limit."""
        seconds = self.options.parse_timeout_seconds
        future = self._parse.submit(
            parse,
            raw,
            envelope_sender=envelope_sender,
            max_html_depth=self.options.max_html_depth,
            max_html_elements=self.options.max_html_elements,
        )
        try:
            return future.result(timeout=seconds)
        except FutureTimeout:
            future.cancel()  # if it never started, it never will
            logger.warning(
                "parsing a %d-byte message from %s took over %ds; kept as text only",
                len(raw),
                envelope_sender or "?",
                seconds,
            )
            problem = f"parsing took over {seconds}s: kept as text only"
            return parse_cheaply(raw, envelope_sender=envelope_sender, problem=problem)

    async def run(self, work: Callable[[], T]) -> T:
        """``work`` on an ingest thread, awaited from the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._ingest, work)

    def shutdown(self) -> None:
        """Blocking (call it off the event loop): lets messages being stored finish; drops stuck parses."""
        self._ingest.shutdown(wait=True, cancel_futures=True)  # first: they still submit parses
        self._parse.shutdown(wait=False, cancel_futures=True)
