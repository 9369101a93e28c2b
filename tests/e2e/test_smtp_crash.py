"""kill -9 of ``supportbot serve`` in the middle of a stream of mail loses nothing it answered 250.

1,000 distinct messages (new tickets and replies naming earlier ones by
In-Reply-To) go over four concurrent SMTP connections into the real server
process. After a few hundred ``250`` answers the server is killed with
SIGKILL, so some messages are in flight: received, maybe committed, never
answered. A few messages earlier in the stream were sent whole but their
reply was never read (a 250 lost on the way back), so the store certainly
holds messages their sender believes undelivered. The server is restarted
on the same data folder and database and everything that was not answered
``250`` is sent again, as a sending mail server would. Then the store must
hold every message exactly once, on the ticket its ``250`` named.
"""

from __future__ import annotations

import signal
import uuid
from collections import Counter
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

MESSAGES = 1000
KILL_AFTER = 300  # answered 250 before the SIGKILL
# Sent whole but their replies never read: stored, yet "not answered 250" for the sender.
ABANDONED = frozenset(range(20, 200, 41))  # spread over the connections


@pytest.fixture(params=["sqlite", "postgresql"])
def serve(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Serve]:
    server = Serve(serve_environment(request, tmp_path), tmp_path)
    try:
        yield server
    finally:
        server.kill()
        server.stop()


@pytest.mark.slow
def test_every_message_answered_250_before_a_kill_9_is_stored_exactly_once(serve: Serve) -> None:
    mails = stream(uuid.uuid4().hex[:8], MESSAGES)
    outcomes: dict[str, list[Outcome]] = {}
    serve.start()
    # Early in each connection's share, so long committed by the time of the kill.
    abandon = frozenset(m.message_id for m in mails if m.index in ABANDONED)
    send_all(serve.smtp_port, mails, outcomes, abandon=abandon, kill_after=KILL_AFTER, kill=serve.kill)
    assert serve.process is not None
    serve.process.wait(timeout=15)
    assert serve.process.returncode == -signal.SIGKILL, serve.output()
    answered = {m.message_id for m in mails if answered_250(outcomes[m.message_id])}
    assert KILL_AFTER <= len(answered) < MESSAGES, f"{len(answered)} answered 250 before the kill"
    stored = Counter(external_id for external_id, _ in inbound_refs(serve.env))
    # Before anything could repair it: each 250 was a commit that survived the kill.
    assert not answered - set(stored), f"answered 250 but not in the store: {answered - set(stored)}"
    # And the resend below must meet messages the store has but the sender does not know it has.
    assert abandon & set(stored), f"none of the abandoned messages was stored:\n{serve.output()}"

    serve.start()
    resend_until_answered(serve, mails, outcomes)
    assert_stored_exactly_once(serve, mails, outcomes)
