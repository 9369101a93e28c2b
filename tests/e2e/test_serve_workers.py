"""``supportbot serve --workers 2``: the workers share the ports, a worker killed under load is
restarted and loses nothing it answered ``250``, and SIGTERM lets every worker finish the
mail it holds before the process exits."""

from __future__ import annotations

import os
import re
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.mail_stream import (
    Outcome,
    Serve,
    answered_250,
    assert_stored_exactly_once,
    inbound_refs,
    resend_until_answered,
    send_all,
    serve_environment,
    stream,
)
from tests.waiting import wait_until

MESSAGES = 600
STOP_AFTER = 150  # answered 250 before the worker is killed, or the server told to stop
STARTED = re.compile(r"worker (\d+) started \(pid (\d+)\)")


@pytest.fixture(params=["sqlite", "postgresql"])
def workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Serve]:
    server = Serve(serve_environment(request, tmp_path), tmp_path, "--workers", "2")
    try:
        yield server
    finally:
        server.stop()
        server.kill()


def worker_pids(serve: Serve) -> dict[int, int]:
    """Each worker's latest pid, as the supervisor logged it."""
    return {int(index): int(pid) for index, pid in STARTED.findall(serve.output())}


def smtp_sessions(pid: int, port: int) -> int:
    """Established SMTP connections the process holds (its socket inodes in /proc/net/tcp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    held = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rpartition(":")[2], 16)
        if local_port == port and fields[3] == "01" and fields[9] in inodes:
            held += 1
    return held


def answered(mails: list, outcomes: dict[str, list[Outcome]]) -> set[str]:
    return {m.message_id for m in mails if answered_250(outcomes.get(m.message_id, []))}


@pytest.mark.slow
def test_a_worker_killed_under_load_is_restarted_and_loses_nothing(workers: Serve) -> None:
    mails = stream(uuid.uuid4().hex[:8], MESSAGES)
    outcomes: dict[str, list[Outcome]] = {}
    workers.start()
    pids = wait_until(
        lambda: worker_pids(workers) if len(worker_pids(workers)) == 2 else None, what="2 workers"
    )
    victims: list[int] = []

    def kill_the_busiest() -> None:
        # The one holding the most SMTP sessions, so mail is surely in flight in it.
        busiest = max(pids.values(), key=lambda pid: smtp_sessions(pid, workers.smtp_port))
        victims.append(busiest)
        os.kill(busiest, signal.SIGKILL)

    send_all(workers.smtp_port, mails, outcomes, kill_after=STOP_AFTER, kill=kill_the_busiest)
    assert workers.process is not None and workers.process.poll() is None, workers.output()
    (victim,) = victims
    index = next(i for i, pid in pids.items() if pid == victim)
    wait_until(
        lambda: f"worker {index} (pid {victim}) was killed by SIGKILL" in workers.output(),
        what="the supervisor noticing the death",
    )
    wait_until(lambda: worker_pids(workers)[index] != victim, what="the killed worker restarted")
    lost = [m.message_id for m in mails if not answered_250(outcomes[m.message_id])]
    assert lost, "no connection was on the killed worker"
    stored = {external_id for external_id, _ in inbound_refs(workers.env)}
    assert not answered(mails, outcomes) - stored, "a message answered 250 is not in the store"

    resend_until_answered(workers, mails, outcomes)  # the same server, with its new worker
    assert_stored_exactly_once(workers, mails, outcomes)


@pytest.mark.slow
def test_sigterm_lets_every_worker_finish_the_mail_it_holds(workers: Serve) -> None:
    mails = stream(uuid.uuid4().hex[:8], MESSAGES)
    outcomes: dict[str, list[Outcome]] = {}
    workers.start()
    wait_until(lambda: len(worker_pids(workers)) == 2, what="2 workers")
    assert workers.process is not None
    process = workers.process
    send_all(
        workers.smtp_port,
        mails,
        outcomes,
        kill_after=STOP_AFTER,
        kill=lambda: process.send_signal(signal.SIGTERM),
    )
    assert process.wait(timeout=40) == 0, workers.output()
    assert "supportbot stopped" in workers.output()
    # Nothing answered 250 was lost, and the stop answered or closed every session.
    stored = {external_id for external_id, _ in inbound_refs(workers.env)}
    assert not answered(mails, outcomes) - stored, "a message answered 250 is not in the store"
    assert len(answered(mails, outcomes)) < MESSAGES, "the stream ended before the stop"

    workers.start()  # a restart takes what the stop left unanswered
    resend_until_answered(workers, mails, outcomes)
    assert_stored_exactly_once(workers, mails, outcomes)


@pytest.mark.slow
def test_workers_end_when_their_supervisor_is_killed(workers: Serve) -> None:
    """Nobody would restart or stop them, and a supervisor started again needs the ports:
    they go with it, as one process would."""
    workers.start()
    pids = wait_until(
        lambda: worker_pids(workers) if len(worker_pids(workers)) == 2 else None, what="2 workers"
    )
    workers.kill()
    for pid in pids.values():
        wait_until(
            lambda pid=pid: not Path(f"/proc/{pid}").exists() or _zombie(pid), what=f"worker {pid} gone"
        )


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True
