"""``serve --workers N``: N processes accepting on the same SMTP and HTTP sockets, supervised.

One Python process uses one core for Python work (the GIL); parsing mail,
rendering and SQLAlchemy are Python work. The supervisor binds the ports
once, then forks the workers, which inherit the listening sockets and all
accept on them (a pre-forked accept loop: the kernel hands each connection
to one waiting worker). Each worker builds its own store connections after
the fork, so no connection is shared between processes.

The supervisor does nothing else: it restarts a worker that dies (at once
the first time, then with a growing pause while it keeps dying young, so a
worker that cannot start does not spin), and on SIGTERM or SIGINT passes
the signal to every worker, which stops accepting, finishes the messages it
holds (each answered after its commit) and exits; one still running after
``DRAIN_SECONDS`` is killed. Whatever a killed worker held unanswered, its
sender sends again, and receipt is idempotent. A supervisor killed outright
(SIGKILL, the OOM killer) takes its workers with it, as one process would go.

Which jobs run where: every worker runs the scheduler (its jobs claim their
work in the database, exactly once across processes); worker 0 alone polls
IMAP and holds Slack's Socket Mode connection.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

DRAIN_SECONDS = 30.0
# A worker that lived shorter than this died young: the next start waits, doubling up to the cap.
YOUNG_SECONDS = 10.0
FIRST_PAUSE_SECONDS = 0.5
MAX_PAUSE_SECONDS = 30.0


@dataclass(slots=True)
class _Worker:
    index: int
    pid: int = 0
    started: float = 0.0
    pause: float = 0.0  # before the next start, after it died young
    restart_at: float = 0.0


@dataclass(slots=True)
class Supervisor:
    """``run_worker(index)`` runs in the forked child and returns its exit status."""

    count: int
    run_worker: Callable[[int], int]
    drain_seconds: float = DRAIN_SECONDS
    # Run when the stop begins, before the workers are told: the supervisor lets go of the
    # listening sockets, so once the workers close theirs a new connection is refused at
    # once (its sender retries) instead of waiting in the queue of a port nobody serves.
    on_stop: Callable[[], None] = lambda: None
    _workers: dict[int, _Worker] = field(default_factory=dict)
    _stopping: bool = False

    def run(self) -> int:
        """Blocking, in the supervisor process, until SIGTERM or SIGINT; its exit status."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for index in range(self.count):
                self._start(_Worker(index))
            while not self._stopping:
                self._reap()
                self._restart_due()
                time.sleep(0.1)
            return self._drain()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @property
    def pids(self) -> list[int]:
        return [worker.pid for worker in self._workers.values() if worker.pid]

    def _stop(self, signum: int, _frame: object) -> None:
        self._stopping = True

    def _start(self, worker: _Worker) -> None:
        supervisor = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker: default signal handling, its own event loop, its own exit
            status = 1
            try:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_DFL)
                _end_with(supervisor)
                status = self.run_worker(worker.index)
            except BaseException:  # noqa: BLE001 - logged; the supervisor sees the exit status
                logger.exception("worker %d failed", worker.index)
            finally:
                logging.shutdown()
                os._exit(status)
        worker.pid, worker.started = pid, time.monotonic()
        self._workers[worker.index] = worker
        logger.info("worker %d started (pid %d)", worker.index, pid)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = next((w for w in self._workers.values() if w.pid == pid), None)
            if worker is None:
                continue
            lived = time.monotonic() - worker.started
            worker.pid = 0
            if lived < YOUNG_SECONDS:
                worker.pause = min(MAX_PAUSE_SECONDS, max(FIRST_PAUSE_SECONDS, worker.pause * 2))
            else:
                worker.pause = 0.0
            worker.restart_at = time.monotonic() + worker.pause
            logger.warning(
                "worker %d (pid %d) %s after %.1fs; restarting it%s",
                worker.index,
                pid,
                _how_it_ended(status),
                lived,
                f" in {worker.pause:.1f}s" if worker.pause else "",
            )

    def _restart_due(self) -> None:
        now = time.monotonic()
        for worker in list(self._workers.values()):
            if worker.pid == 0 and now >= worker.restart_at and not self._stopping:
                self._start(worker)

    def _drain(self) -> int:
        """Every worker finishes what it holds; those still running after the drain time are killed."""
        self.on_stop()
        running = self.pids
        logger.info("stopping %d worker(s)", len(running))
        for pid in running:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.drain_seconds
        failed = 0
        while running:
            for pid in list(running):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    running.remove(pid)
                    failed += os.waitstatus_to_exitcode(status) != 0
            if running and time.monotonic() > deadline:
                logger.warning(
                    "%d worker(s) still running after %.0fs: killed", len(running), self.drain_seconds
                )
                for pid in running:
                    _signal(pid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.05)
        logger.info("supportbot stopped")
        return 1 if failed else 0


def _end_with(supervisor: int) -> None:
    """A worker whose supervisor is gone (killed with SIGKILL, which it cannot pass on) is
    killed by the kernel, as the one process would have been (Linux's PR_SET_PDEATHSIG):
    nobody is left to restart or stop it, and a supervisor started again must find the ports
    free. What it held unanswered its senders send again; receipt is idempotent."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the supervisor's death is not noticed
        logger.warning("workers cannot follow the supervisor's death on this system")
    if os.getppid() != supervisor:  # it died before the line above took effect
        os.kill(os.getpid(), signal.SIGKILL)


PR_SET_PDEATHSIG = 1


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _how_it_ended(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"
