"""A stream of mail into a real ``supportbot serve`` process over concurrent SMTP connections,
and what must hold after the server was killed or stopped in the middle of it."""

from __future__ import annotations

import json
import random
import signal
import smtplib
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from bot.model import format_number
from bot.store import tables as t
from tests.e2e.process import SUPPORTBOT, clean_environment, healthy, supportbot
from tests.ports import free_port
from tests.waiting import wait_until

CONNECTIONS = 4
RESEND_ROUNDS = 3
SUPPORT = "support@localhost"


@dataclass(frozen=True, slots=True)
class Mail:
    index: int
    message_id: str
    sender: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    """The final answer to DATA, or why there was none (``code`` is ``None``)."""

    code: int | None
    text: str


def stream(run: str, messages: int = 1000) -> list[Mail]:
    """About two messages in five reply to an earlier one sent on the same connection."""
    rng = random.Random(run)
    mails: list[Mail] = []
    roots: dict[str, str] = {}  # message id -> sender of the ticket's first message
    for index in range(messages):
        message_id = f"<crash-{run}-{index}@example.test>"
        earlier = mails[index % CONNECTIONS :: CONNECTIONS]
        if earlier and rng.random() < 0.4:
            parent = rng.choice(earlier)
            sender = roots[parent.message_id]
            subject = f"Re: Crash stream ticket {parent.index}"
            threading_headers = f"In-Reply-To: {parent.message_id}\r\nReferences: {parent.message_id}\r\n"
        else:
            sender = f"customer-{index % 40}@example.test"
            subject = f"Crash stream ticket {index}"
            threading_headers = ""
        roots[message_id] = sender
        raw = (
            f"From: Customer <{sender}>\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n"
            f"Message-ID: {message_id}\r\n{threading_headers}"
            f"Date: Mon, 02 Mar 2026 09:00:00 +0000\r\n\r\n"
            f"Message {index} of the crash stream.\r\n"
        ).encode()
        mails.append(Mail(index, message_id, sender, raw))
    return mails


class Serve:
    """One ``supportbot serve`` process after another on the same environment."""

    def __init__(self, env: dict[str, str], folder: Path, *args: str) -> None:
        self.env = env
        self.args = args
        self.folder = folder
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []

    @property
    def smtp_port(self) -> int:
        return int(self.env["SUPPORTBOT_SMTP_PORT"])

    def output(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(encoding='utf-8', errors='replace')}" for log in self.logs
        )

    def start(self) -> None:
        self.starts += 1
        log = self.folder / f"serve-{self.starts}.log"
        self.logs.append(log)
        with log.open("wb") as handle:
            self.process = subprocess.Popen(
                [str(SUPPORTBOT), "serve", *self.args], env=self.env, stdout=handle, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{self.env['SUPPORTBOT_HTTP_PORT']}"
        process = self.process

        def serving_and_healthy() -> httpx.Response | None:
            if process.poll() is not None:
                pytest.fail(f"supportbot serve exited with {process.returncode}:\n{self.output()}")
            return healthy(url)

        wait_until(
            serving_and_healthy,
            seconds=30,
            what="supportbot serve healthy",
            interval=0.1,
            explain=self.output,
        )

    def kill(self) -> None:
        """SIGKILL: no handler runs, no transaction is finished, no socket is closed politely."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait(timeout=15)


def deliver(client: smtplib.SMTP, mail: Mail) -> Outcome:
    code, reply = client.mail(mail.sender)
    if code == 250:
        code, reply = client.rcpt(SUPPORT)
    if code == 250:
        code, reply = client.data(mail.raw)
        return Outcome(code, reply.decode(errors="replace"))
    client.rset()
    return Outcome(code, reply.decode(errors="replace"))


def deliver_without_reading_the_reply(client: smtplib.SMTP, mail: Mail) -> Outcome:
    """The whole message, then nothing more: whatever the server answers never reaches us."""
    client.mail(mail.sender)
    client.rcpt(SUPPORT)
    client.putcmd("data")
    code, _ = client.getreply()
    assert code == 354
    client.send(mail.raw + b".\r\n")  # raw ends with CRLF and has no line starting with "."
    return Outcome(None, "reply never read")


def send_all(
    port: int,
    mails: list[Mail],
    outcomes: dict[str, list[Outcome]],
    *,
    abandon: frozenset[str] = frozenset(),
    kill_after: int = 0,
    kill: Callable[[], None] | None = None,
) -> None:
    """Send ``mails`` over CONNECTIONS connections; each connection stops at its first lost reply.

    A message in ``abandon`` is sent whole but its reply is never read, like
    a 250 lost on the way back; its connection is left open (closed only at
    the end) and the next message goes on a new one. ``kill`` is called
    shortly after the ``kill_after``-th message was answered 250.
    """
    lock = threading.Lock()
    answered = 0
    errors: list[BaseException] = []
    abandoned: list[smtplib.SMTP] = []

    def record(mail: Mail, outcome: Outcome) -> None:
        nonlocal answered
        with lock:
            outcomes.setdefault(mail.message_id, []).append(outcome)
            if outcome.code == 250:
                answered += 1
                if kill is not None and answered == kill_after:
                    # At a moment of its own, not in step with an answer.
                    threading.Timer(random.uniform(0.0, 0.05), kill).start()

    def connection(share: list[Mail]) -> None:
        client: smtplib.SMTP | None = None
        try:
            for position, mail in enumerate(share):
                try:
                    if client is None:
                        client = smtplib.SMTP("127.0.0.1", port, timeout=20)
                        client.ehlo()
                    if mail.message_id in abandon:
                        outcome = deliver_without_reading_the_reply(client, mail)
                        with lock:
                            abandoned.append(client)
                        client = None
                    else:
                        outcome = deliver(client, mail)
                except (OSError, smtplib.SMTPException) as error:
                    # The server is gone: this message and the rest of the share got no answer.
                    for lost in share[position:]:
                        record(lost, Outcome(None, repr(error) if lost is mail else "not sent"))
                    return
                record(mail, outcome)
        except BaseException as error:  # handed to the test's thread below
            errors.append(error)
        finally:
            if client is not None:
                client.close()

    shares = [mails[k::CONNECTIONS] for k in range(CONNECTIONS)]
    workers = [threading.Thread(target=connection, args=(share,)) for share in shares]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    for client in abandoned:
        client.close()
    if errors:
        raise errors[0]
    assert not any(worker.is_alive() for worker in workers), "an SMTP client never finished"


def answered_250(history: list[Outcome]) -> bool:
    return any(outcome.code == 250 for outcome in history)


def inbound_refs(env: dict[str, str]) -> list[tuple[str, int]]:
    """(Message-ID, ticket id) of every inbound email reference in the server's store."""
    engine = create_engine(env["SUPPORTBOT_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(t.ThreadRef.external_id, t.ThreadRef.ticket_id).where(
                    t.ThreadRef.channel == "email", t.ThreadRef.direction == "in"
                )
            ).all()
    finally:
        engine.dispose()
    return [(external_id, ticket_id) for external_id, ticket_id in rows]


def resend_until_answered(serve: Serve, mails: list[Mail], outcomes: dict[str, list[Outcome]]) -> None:
    """As a sending mail server does: what was not answered 250 is sent again, a few rounds."""
    for _ in range(RESEND_ROUNDS):
        again = [m for m in mails if not answered_250(outcomes[m.message_id])]
        if not again:
            break
        send_all(serve.smtp_port, again, outcomes)
    unanswered = [m.message_id for m in mails if not answered_250(outcomes[m.message_id])]
    assert not unanswered, f"{len(unanswered)} never answered 250, e.g. {outcomes[unanswered[0]]}"


def assert_stored_exactly_once(serve: Serve, mails: list[Mail], outcomes: dict[str, list[Outcome]]) -> None:
    """Every message stored once, on the ticket its 250 named; the CLI lists and shows them."""
    inbound = inbound_refs(serve.env)
    engine = create_engine(serve.env["SUPPORTBOT_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            comments = Counter(
                conn.execute(
                    select(t.Comment.external_id).where(
                        t.Comment.channel == "email", t.Comment.external_id.is_not(None)
                    )
                ).scalars()
            )
            tickets = conn.scalar(select(func.count()).select_from(t.Ticket))
    finally:
        engine.dispose()
    refs = Counter(external_id for external_id, _ in inbound)
    ticket_of = {external_id: ticket_id for external_id, ticket_id in inbound}
    wrong_count = {
        m.message_id: (refs[m.message_id], comments[m.message_id])
        for m in mails
        if (refs[m.message_id], comments[m.message_id]) != (1, 1)
    }
    assert not wrong_count, f"(thread refs, comments) per Message-ID not (1, 1): {wrong_count}"
    assert len(inbound) == len(mails)
    wrong_ticket = {
        m.message_id: (format_number("SUP", ticket_of[m.message_id]), [o.text for o in history])
        for m in mails
        for history in [outcomes[m.message_id]]
        if any(
            o.code == 250 and o.text != f"2.0.0 {format_number('SUP', ticket_of[m.message_id])}"
            for o in history
        )
    }
    assert not wrong_ticket, f"a 250 named another ticket than the one holding the message: {wrong_ticket}"

    listed = supportbot(serve.env, "tickets", "list", "--format", "json", "--limit", "10000")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == tickets == len(set(ticket_of.values()))
    first = ticket_of[mails[0].message_id]
    shown = supportbot(serve.env, "tickets", "show", format_number("SUP", first), "--format", "json")
    assert shown.returncode == 0, shown.stderr
    bodies = [comment["body"] for comment in json.loads(shown.stdout)["comments"]]
    expected = sorted(
        f"Message {m.index} of the crash stream." for m in mails if ticket_of[m.message_id] == first
    )
    assert sorted(bodies) == expected


def serve_environment(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """A data folder and free ports; the database the fixture's parameter names, migrated."""
    data_dir = tmp_path / "data"
    env = clean_environment() | {
        "SUPPORTBOT_DATA_DIR": str(data_dir),
        "SUPPORTBOT_HTTP_PORT": str(free_port()),
        "SUPPORTBOT_SMTP_PORT": str(free_port()),
    }
    if request.param == "postgresql":
        env["SUPPORTBOT_DATABASE_URL"] = request.getfixturevalue("empty_schema")
        upgraded = supportbot(env, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
    else:
        env["SUPPORTBOT_DATABASE_URL"] = f"sqlite:///{data_dir / 'supportbot.db'}"
    return env
