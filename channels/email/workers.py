"""The email channel's own threads: mail is parsed and stored there, never on the event loop's default pool.

Parsing costs what the sender chooses to make it cost. In the default pool a
few hostile mails queued the API's database calls and ``/healthz`` behind
them for over a minute; here they can only queue other mail. Two bounded
pools: ``ingest`` runs a whole SMTP message (parse, then the store), and
``parse`` runs the parse step of SMTP and IMAP mail under a time limit. Two
pools rather than one so an ingest thread waiting on its parse can never wait
on itself.

The limit counts from the moment a parse starts, not from when it was
queued, so mail waiting behind slow mail is not cut short. A parse past its
limit is abandoned (a Python thread cannot be stopped: it finishes in the
background and its result is dropped) and the message is read by
:func:`parse_cheaply` instead, so it is still stored, raw, with its text.
Abandoned parses still hold their threads; when every parse thread is held by
one, new mail is refused with :class:`MailBusy` (SMTP answers ``451 4.3.2``,
IMAP leaves it for the next round) rather than stored cheaply without its
attachments. Parse threads are daemons, so a stuck parse never holds up exit.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from bot.config.channels import EmailSettings
from channels.email.parse import ParsedEmail, parse, parse_cheaply

logger = logging.getLogger(__name__)

T = TypeVar("T")


class MailBusy(Exception):
    """Every parse thread is held by a parse past its limit: the sender should try again later."""


class _Job:
    __slots__ = ("work", "started", "done", "result", "error")

    def __init__(self, work: Callable[[], ParsedEmail]) -> None:
        self.work: Callable[[], ParsedEmail] | None = work
        self.started: float | None = None
        self.done = False
        self.result: ParsedEmail | None = None
        self.error: BaseException | None = None


class ParsePool:
    """``threads`` daemon threads that run parses; :meth:`run` waits for one, timed from its start."""

    def __init__(self, threads: int, limit: float) -> None:
        self.threads = threads
        self.limit = limit
        self._changed = threading.Condition()  # guards everything below; notified on every change
        self._queue: deque[_Job] = deque()
        self._running: set[_Job] = set()
        self._workers: list[threading.Thread] = []
        self._closed = False

    def run(self, work: Callable[[], ParsedEmail]) -> ParsedEmail | None:
        """``work``'s result; None when it ran past the limit. Raises :class:`MailBusy`."""
        job = _Job(work)
        with self._changed:
            if self._closed:
                raise MailBusy("mail parsing is shut down")
            self._refuse_if_held()
            self._queue.append(job)
            self._start_workers()
            self._changed.notify_all()
            while job.started is None:
                if self._held(time.monotonic()):  # its turn may never come while they run
                    self._queue.remove(job)
                    raise MailBusy(self._held_reason())
                self._changed.wait(self._until_next_expiry())
            deadline = job.started + self.limit
            while not job.done:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)
        if job.error is not None:
            raise job.error
        return job.result

    def shutdown(self, *, wait: bool = False) -> None:
        """Threads end once the queue is empty; ``wait``: until abandoned parses have finished too."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            workers = list(self._workers)
        if wait:
            for worker in workers:
                worker.join()

    def _refuse_if_held(self) -> None:
        if self._held(time.monotonic()):
            raise MailBusy(self._held_reason())

    def _held(self, now: float) -> bool:
        """Every thread runs a parse that is past its limit (and so abandoned by its waiter)."""
        stuck = sum(1 for job in self._running if job.started is not None and now - job.started >= self.limit)
        return stuck >= self.threads

    def _held_reason(self) -> str:
        return f"all {self.threads} parse threads are held by parses past {self.limit:g}s"

    def _until_next_expiry(self) -> float:
        """How long until a running parse passes its limit (the pool may then be held); at most 1 s."""
        now = time.monotonic()
        ends = [job.started + self.limit - now for job in self._running if job.started is not None]
        upcoming = [end for end in ends if end > 0]
        return min([1.0, *upcoming])

    def _start_workers(self) -> None:
        while len(self._workers) < self.threads:
            worker = threading.Thread(
                target=self._serve, name=f"mail-parse-{len(self._workers)}", daemon=True
            )
            self._workers.append(worker)
            worker.start()

    def _serve(self) -> None:
        while True:
            with self._changed:
                while not self._queue and not self._closed:
                    self._changed.wait()
                if not self._queue:
                    return
                job = self._queue.popleft()
                job.started = time.monotonic()
                self._running.add(job)
                self._changed.notify_all()
            work, job.work = job.work, None
            try:
                assert work is not None
                job.result = work()
            except BaseException as error:  # noqa: BLE001 - handed to the waiter, which raises it
                job.error = error
            with self._changed:
                self._running.discard(job)
                job.done = True
                self._changed.notify_all()


class MailWorkers:
    """Owned by whoever builds it (``serve`` builds one for SMTP and IMAP); :meth:`shutdown` on stop.

    ``parse_limit`` overrides ``parse_timeout_seconds`` (tests use fractions of a second).
    """

    def __init__(self, options: EmailSettings | None = None, *, parse_limit: float | None = None) -> None:
        self.options = options or EmailSettings()
        threads = self.options.ingest_threads
        self.parse_limit = parse_limit if parse_limit is not None else self.options.parse_timeout_seconds
        self._ingest = ThreadPoolExecutor(threads, thread_name_prefix="mail-ingest")
        self._parse = ParsePool(threads, self.parse_limit)

    def parse(self, raw: bytes, *, envelope_sender: str | None) -> ParsedEmail:
        """Blocking, from an ingest or IMAP thread: the full parse, or the cheap one past the time limit.

        Raises :class:`MailBusy` when abandoned parses hold every parse thread.
        """
        work = partial(
            parse,
            raw,
            envelope_sender=envelope_sender,
            max_html_depth=self.options.max_html_depth,
            max_html_elements=self.options.max_html_elements,
        )
        try:
            parsed = self._parse.run(work)
        except MailBusy as error:
            logger.warning(
                "refused a %d-byte message from %s for now: %s", len(raw), envelope_sender or "?", error
            )
            raise
        if parsed is not None:
            return parsed
        seconds = self.parse_limit
        logger.warning(
            "parsing a %d-byte message from %s took over %gs; kept as text only",
            len(raw),
            envelope_sender or "?",
            seconds,
        )
        problem = f"parsing took over {seconds:g}s: kept as text only"
        return parse_cheaply(raw, envelope_sender=envelope_sender, problem=problem)

    async def run(self, work: Callable[[], T]) -> T:
        """``work`` on an ingest thread, awaited from the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._ingest, work)

    def shutdown(self, *, wait_for_parses: bool = False) -> None:
        """Blocking (call it off the event loop): lets messages being stored finish.

        Abandoned parses are left to end on their own (daemon threads) unless
        ``wait_for_parses``, which a test uses so their CPU is not another test's.
        """
        self._ingest.shutdown(wait=True, cancel_futures=True)  # first: they still submit parses
        self._parse.shutdown(wait=wait_for_parses)
