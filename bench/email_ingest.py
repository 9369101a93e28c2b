"""How many messages per second ``supportbot serve`` takes in over SMTP, beside a do-nothing server.

The same stream of small, realistic messages (half open a ticket, half reply
to an earlier one with In-Reply-To and References) goes over ``smtplib``
into three targets, each with 1 and with 8 client connections sharing the
total:

* ``do-nothing aiosmtpd``: an ``aiosmtpd.controller.Controller`` in its own
  process whose handler only answers ``250 OK``: the SMTP conversation
  itself, the ceiling for this client on this machine.
* ``supportbot SQLite`` / ``supportbot PostgreSQL``: the real ``supportbot
  serve`` process (HTTP off, everything else as shipped: INFO logging, the
  outbox dispatcher writing acknowledgements to ``.eml`` files while mail
  comes in). Each message is parsed, stored in one transaction and answered
  ``250 2.0.0 SUP-n`` after the commit. PostgreSQL runs in a private schema
  on 127.0.0.1:5432, dropped at the end, and is skipped with a note if
  unreachable.

Two kinds of mail: ``plain`` is the stream above (2 KB of text); ``samples``
cycles through the repository's sample mail (``tests/data/email/``: Gmail,
Apple Mail, Outlook and Thunderbird replies with HTML and quoted history, an
Outlook winmail.dat attachment, ISO-2022-JP, KOI8-R and mislabelled charsets),
each sent with this run's sender, Message-ID and threading headers. The samples
run on the empty store only: their question is the cost of real mail, not of
the store's size.

Where the CPU goes, per message (columns ``server CPU`` to ``store + rest``):
``server CPU`` is the ``supportbot serve`` process's user + system time over the
timed run (from ``/proc``; with ``--workers`` the supervisor's and its workers')
divided by the messages; ``parse`` is
``channels.email.parse.parse`` run on the same messages in this process;
``SMTP`` is the do-nothing server's own CPU per message in the same run (the
conversation itself); ``store + rest`` is what remains: the transaction, the
outbox writing acknowledgements, logging, threads. Without a do-nothing run in
the same invocation ``SMTP`` and ``store + rest`` are left blank.

``workers`` is ``serve --workers N`` (``--workers 1,2`` times both, with more than one
connection). ``RSS MB`` is the largest resident set of a serving process (a worker,
or the one process) at the end of the timed run.

"Tickets already stored" is the size case: before the timed run the store
holds that many tickets, seeded with bulk inserts (a requester per five
tickets, the first comment, the inbound Message-ID and the acknowledgement's
Message-ID as thread references, the acknowledgement in the outbox as sent;
no audit events). Half the replies in the timed run then name a seeded
message (the customer's or our acknowledgement), the other half a message
sent earlier in the run, so threading looks its references up among the
seeded ones. Each run starts from the same state: an empty or a seeded store; the
PostgreSQL schema is ``ANALYZE``d after seeding, as autovacuum would have.

How to read it: ``msg/s`` is messages over wall time from the moment every
connection is open to the last reply, after a 20-message warm-up (which
adds 20 tickets). ``vs do-nothing`` divides by the do-nothing rate with the
same number of connections. Clients, server and PostgreSQL share this
machine's CPUs. Every reply is checked: a message not answered 250, or a
reply answered with another ticket than its parent's, is reported below
the table. Progress goes to stderr, the table to stdout.

The default run sends 24,000 messages into supportbot and takes about a quarter
of an hour on a 2-core machine, almost all of it in the timed runs; ``--count``,
``--stored`` (e.g. ``--stored 0,20000``) and ``--mail plain`` make it shorter.

Run from the repository root: ``.venv/bin/python bench/email_ingest.py --help``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scratch_postgres import postgres_schema  # bench/ is the script's folder
from sqlalchemy import Engine, create_engine, delete, func, insert, select, text
from tabulate import tabulate

from bot.store import migrate
from bot.store import tables as t
from bot.store.db import Store

SUPPORTBOT = Path(sys.executable).with_name("supportbot")
SUPPORT = "support@localhost"
SENDERS = 500  # distinct new requesters per run, so most new tickets are acknowledged
WARMUP = 20
SEED_CHUNK = 5000
TICKETS_PER_REQUESTER = 5
PARAGRAPH = (
    "Since this morning the VPN client drops the connection every few minutes. "
    "I restarted the laptop and reinstalled the client, it did not help. "
    "Colleagues on the same floor seem to be fine. Could you have a look?"
)


@dataclass(frozen=True, slots=True)
class Mail:
    message_id: str
    sender: str
    raw: bytes
    # For a reply: the ticket it must land on ("SUP-7"), or the message whose ticket it is.
    expect_ticket: str | None = None
    expect_like: str | None = None


@dataclass(frozen=True, slots=True)
class Result:
    target: str
    stored: int | None
    connections: int
    messages: int
    seconds: float
    mail: str = "plain"
    # Seconds of CPU: the server process over the timed run, and parse() of the same messages.
    server_cpu: float | None = None
    parse_cpu: float | None = None
    workers: int = 1
    # The largest resident set of a serving process at the end of the run, in MB.
    resident: float | None = None

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


# -- the message stream ---------------------------------------------------------------


def render(message_id: str, sender: str, subject: str, parent: str | None) -> bytes:
    threading_headers = f"In-Reply-To: {parent}\r\nReferences: {parent}\r\n" if parent else ""
    quote = f"\r\n\r\nOn Mon, 2 Mar 2026 at 09:00, Support wrote:\r\n> {PARAGRAPH}\r\n" if parent else ""
    return (
        f"From: Bench Customer <{sender}>\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n"
        f"Date: Mon, 02 Mar 2026 09:00:00 +0000\r\nMessage-ID: {message_id}\r\n{threading_headers}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Hello,\r\n\r\n{PARAGRAPH}\r\n\r\nThanks, Bench{quote}\r\n"
    ).encode()


SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "data" / "email"
# Customers' mail: not the bounce, the vacation notice or the undecodable garbage, which take
# other paths (kept, not answered) and would not be answered with a ticket.
SAMPLE_FILES = (
    "apple_mail_reply.eml",
    "cyrillic_koi8r.eml",
    "gmail_reply.eml",
    "japanese_iso2022jp.eml",
    "mislabelled_cp1251.eml",
    "new_plain.eml",
    "outlook_reply.eml",
    "outlook_winmail.eml",
    "thunderbird_reply_de.eml",
)
REPLACED = ("from", "to", "message-id", "in-reply-to", "references", "delivered-to", "x-original-to")


def sample(raw: bytes, message_id: str, sender: str, subject: str, parent: str | None) -> bytes:
    """A sample message as this run's: its sender, Message-ID and threading; a subject carrying
    another ticket's tag (``[SUP-1]``) is replaced so it opens or threads where planned."""
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    kept: list[bytes] = []
    dropping = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):  # a folded continuation of the header above
            if not dropping:
                kept.append(line)
            continue
        name = line.partition(b":")[0].strip().lower().decode("ascii", "replace")
        dropping = name in REPLACED or (name == "subject" and b"SUP-" in line.upper())
        if not dropping:
            kept.append(line)
    new = [f"From: Bench Customer <{sender}>", f"To: {SUPPORT}", f"Message-ID: {message_id}"]
    if parent:
        new += [f"In-Reply-To: {parent}", f"References: {parent}"]
    if not any(line.lower().startswith(b"subject:") for line in kept):
        new.append(f"Subject: {subject}")
    return b"\r\n".join([*(h.encode() for h in new), *kept]) + b"\r\n\r\n" + body.replace(b"\n", b"\r\n")


def seeded_message_ids(ticket: int) -> tuple[str, str]:
    """The customer's first message on a seeded ticket, and our acknowledgement of it."""
    return f"<seed-{ticket}@customer.test>", f"<sup-{ticket}.seed@localhost>"


def seeded_people(stored: int) -> int:
    return max(1, stored // TICKETS_PER_REQUESTER) if stored else 0


def seeded_requester(ticket: int, stored: int) -> str:
    return f"seed-customer-{ticket % seeded_people(stored)}@example.test"


def plan(run: str, count: int, connections: int, stored: int, mail: str = "plain") -> list[list[Mail]]:
    """Each connection's messages: even ones open a ticket, odd ones reply.

    A reply names a message its own connection sent earlier (already answered,
    so its ticket is known) or, when the store was seeded, every other reply
    names a seeded message. ``mail = "samples"``: each message is the next sample.
    """
    rng = random.Random(run)
    samples = [(SAMPLES / name).read_bytes() for name in SAMPLE_FILES]

    def render_mail(index: int, message_id: str, sender: str, subject: str, parent: str | None) -> bytes:
        if mail == "samples":
            return sample(samples[index % len(samples)], message_id, sender, subject, parent)
        return render(message_id, sender, subject, parent)

    plans: list[list[Mail]] = []
    for connection in range(connections):
        share = count // connections + (1 if connection < count % connections else 0)
        mails: list[Mail] = []
        opened: list[Mail] = []
        for j in range(share):
            message_id = f"<{run}-{connection}-{j}@customer.test>"
            if j % 2 == 0 or not opened:
                sender = f"customer-{run}-{(connection * share + j) % SENDERS}@example.test"
                raw = render_mail(j, message_id, sender, f"VPN drops, case {j}", None)
                opened.append(Mail(message_id, sender, raw))
                mails.append(opened[-1])
                continue
            elif stored and j % 4 == 3:
                ticket = rng.randint(1, stored)
                parent = rng.choice(seeded_message_ids(ticket))
                sender = seeded_requester(ticket, stored)
                subject = f"Re: [SUP-{ticket}] Seeded ticket {ticket}"
                raw = render_mail(j, message_id, sender, subject, parent)
                mails.append(Mail(message_id, sender, raw, f"SUP-{ticket}"))
                continue
            else:
                first = rng.choice(opened)
                subject = f"Re: VPN drops, case {j}"
                raw = render_mail(j, message_id, first.sender, subject, first.message_id)
                mails.append(Mail(message_id, first.sender, raw, expect_like=first.message_id))
        plans.append(mails)
    return plans


# -- sending --------------------------------------------------------------------------


def deliver(client: smtplib.SMTP, mail: Mail) -> tuple[int, str]:
    code, reply = client.mail(mail.sender)
    if code == 250:
        code, reply = client.rcpt(SUPPORT)
    if code == 250:
        code, reply = client.data(mail.raw)
        return code, reply.decode(errors="replace")
    client.rset()
    return code, reply.decode(errors="replace")


def timed_send(port: int, plans: list[list[Mail]]) -> tuple[float, dict[str, tuple[int, str]]]:
    """Every connection opened first; seconds from the common start to the last reply."""
    clients = [smtplib.SMTP("127.0.0.1", port, timeout=120) for _ in plans]
    replies: list[dict[str, tuple[int, str]]] = [{} for _ in plans]
    errors: list[BaseException] = []
    start = threading.Barrier(len(plans) + 1)

    def work(index: int) -> None:
        client = clients[index]
        client.ehlo()
        start.wait()
        try:
            for mail in plans[index]:
                replies[index][mail.message_id] = deliver(client, mail)
        except BaseException as error:  # re-raised below, in the main thread
            errors.append(error)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(len(plans))]
    try:
        for worker in workers:
            worker.start()
        start.wait()
        began = time.perf_counter()
        for worker in workers:
            worker.join()
        seconds = time.perf_counter() - began
    finally:
        for client in clients:
            client.close()
    if errors:
        raise errors[0]
    return seconds, {key: value for share in replies for key, value in share.items()}


def check(target: str, plans: list[list[Mail]], replies: dict[str, tuple[int, str]]) -> list[str]:
    """Notes for messages not answered 250 and replies answered with another ticket than expected."""
    notes: list[str] = []
    refused = [f"{code} {text}" for code, text in replies.values() if code != 250]
    if refused:
        notes.append(f"{target}: {len(refused)} not answered 250, e.g. {refused[0]!r}")
    if target.startswith("do-nothing"):
        return notes
    number = {key: text.removeprefix("2.0.0 ") for key, (code, text) in replies.items() if code == 250}
    wrong = 0
    for mail in (m for share in plans for m in share):
        expected = mail.expect_ticket or (number.get(mail.expect_like) if mail.expect_like else None)
        wrong += expected is not None and number.get(mail.message_id) != expected
    if wrong:
        notes.append(f"{target}: {wrong} replies answered with another ticket than their parent's")
    return notes


def wait_for_smtp(port: int, process: subprocess.Popen[bytes] | None, log: Path | None) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process is not None and process.poll() is not None:
            output = log.read_text(errors="replace") if log else ""
            raise RuntimeError(f"the server exited with {process.returncode}:\n{output}")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
                client.noop()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_tree(pid: int) -> list[int]:
    """The process and its children (``serve --workers N``'s workers)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return [pid, *(int(child) for child in children)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process and its live children have used so far (``/proc/<pid>/stat``)."""
    total = 0
    for each in process_tree(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def resident_mb(pid: int) -> float:
    """The largest resident set among the serving processes (a worker's, or the only process's)."""
    largest = 0
    for each in process_tree(pid)[1:] or [pid]:
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                largest = max(largest, int(line.split()[1]))
    return largest / 1024


def parse_seconds(plans: list[list[Mail]]) -> float:
    """CPU this process spends in ``parse`` on the run's messages, as the server parses them."""
    from channels.email.parse import parse

    raws = [mail.raw for share in plans for mail in share]
    for raw in raws[:WARMUP]:
        parse(raw)
    began = time.process_time()
    for raw in raws:
        parse(raw, envelope_sender="customer@example.test")
    return time.process_time() - began


def warm_up(port: int, run: str) -> None:
    """First messages pay for lazy imports and new connections; they are not timed."""
    ids = [f"<{run}-warmup-{i}@customer.test>" for i in range(WARMUP)]
    sender = "warmup@example.test"
    timed_send(port, [[Mail(key, sender, render(key, sender, "Warm-up", None)) for key in ids]])


# -- targets --------------------------------------------------------------------------


class DoNothingHandler:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


def serve_do_nothing(port: int) -> None:
    """Run in a child process (``--do-nothing-server PORT``) until stdin closes."""
    from aiosmtpd.controller import Controller

    controller = Controller(DoNothingHandler(), hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()


@contextmanager
def do_nothing_server() -> Iterator[tuple[int, int]]:
    """Its port and process id."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--do-nothing-server", str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != b"ready":
            raise RuntimeError("the do-nothing aiosmtpd server did not start")
        yield port, process.pid
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


@contextmanager
def supportbot_serve(url: str, folder: Path, workers: int = 1) -> Iterator[tuple[int, int]]:
    """``supportbot serve`` with SMTP on a free port and HTTP off, as its port and process id;
    stopped with SIGTERM."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("SUPPORTBOT_")}
    env |= {
        "SUPPORTBOT_DATA_DIR": str(folder),
        "SUPPORTBOT_DATABASE_URL": url,
        "SUPPORTBOT_HTTP_ENABLED": "false",
        "SUPPORTBOT_SMTP_PORT": str(port),
        "SUPPORTBOT_SERVE_WORKERS": str(workers),
    }
    with serve_process(env, folder, port) as (_, pid):
        yield port, pid


@contextmanager
def serve_process(env: dict[str, str], folder: Path, smtp_port: int) -> Iterator[tuple[Path, int]]:
    """Start ``supportbot serve`` with ``env``, wait until its SMTP port answers, yield its log and
    process id; stop it with SIGTERM (then SIGKILL) however the benchmark ends."""
    log = folder / "serve.log"
    folder.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [str(SUPPORTBOT), "serve"], env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    try:
        wait_for_smtp(smtp_port, process, log)
        yield log, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- stores ---------------------------------------------------------------------------


EXPIRED_AFTER = timedelta(days=7)  # ticket_expiration_days' default


def seed(engine: Engine, tickets: int) -> None:
    """``tickets`` open email tickets as if they had come in and been acknowledged, in bulk."""
    now = datetime.now(UTC)
    rng = random.Random(tickets)
    people = seeded_people(tickets)
    with engine.begin() as conn:
        for low in range(0, people, SEED_CHUNK):
            conn.execute(
                insert(t.Person),
                [
                    {
                        "id": p + 1,
                        "email": f"seed-customer-{p}@example.test",  # seeded_requester
                        "name": f"Seed Customer {p}",
                        "role": "requester",
                        "created_at": now - timedelta(days=400),
                    }
                    for p in range(low, min(people, low + SEED_CHUNK))
                ],
            )
        for low in range(1, tickets + 1, SEED_CHUNK):
            numbers = range(low, min(tickets, low + SEED_CHUNK - 1) + 1)
            at = {i: now - timedelta(days=rng.uniform(1, 365)) for i in numbers}
            ids = {i: seeded_message_ids(i) for i in numbers}
            conn.execute(
                insert(t.Ticket),
                [
                    {
                        "id": i,
                        "subject": f"Seeded ticket {i}",
                        "description": PARAGRAPH,
                        "status": "open",
                        "priority": "medium",
                        "channel": "email",
                        "requester_id": i % people + 1,
                        "created_at": at[i],
                        "updated_at": at[i],
                        # As the hourly housekeeping left them: open past the expiry age and
                        # flagged. Unflagged, the first sweep after start-up would flag most of
                        # them while the timed run is on, and measure that backlog instead.
                        "expired_at": at[i] + EXPIRED_AFTER if now - at[i] > EXPIRED_AFTER else None,
                    }
                    for i in numbers
                ],
            )
            conn.execute(
                insert(t.Comment),
                [
                    {
                        "id": i,
                        "ticket_id": i,
                        "author_id": i % people + 1,
                        "body": PARAGRAPH,
                        "public": True,
                        "flagged": False,
                        "channel": "email",
                        "external_id": ids[i][0],
                        "created_at": at[i],
                    }
                    for i in numbers
                ],
            )
            conn.execute(
                insert(t.ThreadRef),
                [
                    {
                        "id": 2 * i - 1 + direction,
                        "channel": "email",
                        "external_id": ids[i][direction],
                        "ticket_id": i,
                        "comment_id": i if direction == 0 else None,
                        "direction": ("in", "out")[direction],
                        "created_at": at[i],
                    }
                    for i in numbers
                    for direction in (0, 1)
                ],
            )
            conn.execute(
                insert(t.Notification),
                [
                    {
                        "id": i,
                        "ticket_id": i,
                        "channel": "email",
                        "recipient": seeded_requester(i, tickets),
                        "template": "ticket_opened",
                        "context": {},
                        "thread": {"message_id": ids[i][1], "references": [ids[i][0]]},
                        "dedupe_key": f"ticket_opened:{i}",
                        "status": "sent",
                        "attempts": 1,
                        "next_attempt_at": at[i],
                        "created_at": at[i],
                        "sent_at": at[i],
                    }
                    for i in numbers
                ],
            )
        if engine.dialect.name == "postgresql":
            # Explicit ids leave the sequences behind; the server's own inserts come after them.
            for table in ("people", "tickets", "comments", "thread_refs", "notifications"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                    )
                )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))


class SqliteStores:
    """One migrated (and maybe seeded) template file per size; every run gets a copy."""

    name = "SQLite"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.templates: dict[int, Path] = {}
        self.runs = 0

    def prepare(self, stored: int) -> None:
        path = self.folder / f"template-{stored}.db"
        store = Store(f"sqlite:///{path}")
        try:
            migrate.upgrade(store)
            seed(store.engine, stored)
        finally:
            store.dispose()
        self.templates[stored] = path

    def fresh(self, stored: int, folder: Path) -> str:
        folder.mkdir(parents=True)
        target = folder / "supportbot.db"
        shutil.copyfile(self.templates[stored], target)
        return f"sqlite:///{target}"


class PostgresStores:
    """The private schema, seeded once per size; after each run the rows it added are deleted."""

    name = "PostgreSQL"

    def __init__(self, url: str) -> None:
        self.url = url
        self.marks: dict[str, int] = {}
        store = Store(url)
        try:
            migrate.upgrade(store)
        finally:
            store.dispose()

    def prepare(self, stored: int) -> None:
        engine = create_engine(self.url)
        try:
            self._truncate(engine)
            seed(engine, stored)
            with engine.connect() as conn:
                self.marks = {
                    table.name: conn.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0
                    for table in t.Base.metadata.sorted_tables
                    if "id" in table.c
                }
        finally:
            engine.dispose()

    def fresh(self, stored: int, folder: Path) -> str:
        """Back to the state ``prepare`` left: delete what the previous run added."""
        folder.mkdir(parents=True)
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                for table in reversed(t.Base.metadata.sorted_tables):
                    if "id" in table.c:
                        conn.execute(delete(table).where(table.c.id > self.marks[table.name]))
                    elif "ticket_id" in table.c:
                        conn.execute(delete(table).where(table.c.ticket_id > self.marks["tickets"]))
        finally:
            engine.dispose()
        return self.url

    @staticmethod
    def _truncate(engine: Engine) -> None:
        names = ", ".join(f'"{table.name}"' for table in t.Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


# -- the runs -------------------------------------------------------------------------


def progress(result: Result) -> None:
    stored = "-" if result.stored is None else f"{result.stored:,}"
    print(
        f"  {result.target:<22} {result.mail:<7} stored {stored:>8} x{result.connections}: "
        f"{result.rate:7.1f} msg/s",
        file=sys.stderr,
    )


def runs(args: argparse.Namespace, stored: int) -> list[tuple[str, int]]:
    """(mail, connections) to time on a store with ``stored`` tickets: samples on the empty one."""
    return [(mail, n) for mail in args.mail for n in args.connections if mail == "plain" or stored == 0]


def worker_counts(args: argparse.Namespace, connections: int) -> list[int]:
    """Several workers only where several connections can keep them busy."""
    return [w for w in args.workers if w == 1 or connections > 1]


def measure_do_nothing(args: argparse.Namespace, notes: list[str]) -> list[Result]:
    results: list[Result] = []
    with do_nothing_server() as (port, pid):
        warm_up(port, "do-nothing")
        for mail, n in runs(args, 0):
            plans = plan(f"dn{mail}{n}", args.count, n, 0, mail)
            cpu = cpu_seconds(pid)
            seconds, replies = timed_send(port, plans)
            cpu = cpu_seconds(pid) - cpu
            notes += check("do-nothing aiosmtpd", plans, replies)
            results.append(Result("do-nothing aiosmtpd", None, n, args.count, seconds, mail, cpu))
            progress(results[-1])
    return results


def measure_supportbot(
    stores: SqliteStores | PostgresStores, args: argparse.Namespace, tmp: Path, notes: list[str]
) -> list[Result]:
    target = f"supportbot {stores.name}"
    results: list[Result] = []
    for stored in args.stored:
        began = time.perf_counter()
        stores.prepare(stored)
        print(
            f"  {target}: {stored:,} tickets seeded in {time.perf_counter() - began:.1f} s", file=sys.stderr
        )
        for mail, n in runs(args, stored):
            for workers in worker_counts(args, n):
                run = f"r{uuid.uuid4().hex[:6]}"
                folder = tmp / run
                url = stores.fresh(stored, folder)
                # The copy of a large seeded store is still being written back to disk: let it
                # finish, or the run's own fsyncs queue behind it and measure the copy.
                os.sync()
                plans = plan(run, args.count, n, stored, mail)
                with supportbot_serve(url, folder, workers) as (port, pid):
                    warm_up(port, run)
                    cpu = cpu_seconds(pid)
                    seconds, replies = timed_send(port, plans)
                    cpu = cpu_seconds(pid) - cpu
                    resident = resident_mb(pid)
                notes += check(target, plans, replies)
                parsing = parse_seconds(plans)
                results.append(
                    Result(target, stored, n, args.count, seconds, mail, cpu, parsing, workers, resident)
                )
                progress(results[-1])
    return results


def _ms(seconds: float | None, messages: int) -> str:
    return "-" if seconds is None else f"{seconds / messages * 1000:.2f}"


def table(results: list[Result]) -> str:
    reference = {(r.mail, r.connections): r for r in results if r.stored is None}
    rows = []
    for r in results:
        ref = reference.get((r.mail, r.connections))
        smtp = ref.server_cpu if ref is not None else None
        rest = None
        if r.server_cpu is not None and r.parse_cpu is not None and smtp is not None and r.stored is not None:
            rest = r.server_cpu - r.parse_cpu - smtp
        rows.append(
            [
                r.target,
                "-" if r.stored is None else r.workers,
                r.mail,
                "-" if r.stored is None else f"{r.stored:,}",
                r.connections,
                r.messages,
                f"{r.seconds:.2f}",
                f"{r.rate:.1f}",
                f"{r.rate / ref.rate:.3f}" if ref is not None else "-",
                _ms(r.server_cpu, r.messages),
                _ms(r.parse_cpu, r.messages),
                _ms(smtp if r.stored is not None else None, r.messages),
                _ms(rest, r.messages),
                "-" if r.resident is None else f"{r.resident:.0f}",
            ]
        )
    headers = ["target", "workers", "mail", "tickets already stored", "connections", "messages", "seconds"]
    headers += ["msg/s", "vs do-nothing", "server CPU ms/msg", "parse", "SMTP", "store + rest", "RSS MB"]
    return tabulate(
        rows, headers=headers, disable_numparse=True, colalign=("left", "right", "left") + ("right",) * 11
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=2000, help="messages per run (default 2000)")
    parser.add_argument(
        "--targets",
        default="do-nothing,sqlite,postgresql",
        help="comma-separated: do-nothing, sqlite, postgresql (default all; "
        "PostgreSQL is skipped if unreachable)",
    )
    parser.add_argument("--connections", default="1,8", help="comma-separated client counts (default 1,8)")
    parser.add_argument(
        "--stored",
        default="0,100000",
        help="comma-separated tickets already in the store before a run (default 0,100000)",
    )
    parser.add_argument(
        "--mail",
        default="plain,samples",
        help="comma-separated: plain (2 KB text), samples (tests/data/email, on the empty store only); "
        "default both",
    )
    parser.add_argument(
        "--workers",
        default="1",
        help="comma-separated serve --workers counts, tried with more than one connection (default 1)",
    )
    parser.add_argument("--do-nothing-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.mail = [name.strip() for name in args.mail.split(",") if name.strip()]
    if not args.mail or set(args.mail) - {"plain", "samples"}:
        parser.error(f"--mail takes plain and/or samples, not {args.mail}")
    args.targets = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = set(args.targets) - {"do-nothing", "sqlite", "postgresql"}
    if unknown or not args.targets:
        parser.error(f"--targets takes do-nothing, sqlite and/or postgresql, not {args.targets}")
    try:
        args.connections = [int(n) for n in args.connections.split(",") if n.strip()]
        args.stored = [int(n) for n in args.stored.split(",") if n.strip()]
        args.workers = [int(n) for n in args.workers.split(",") if n.strip()]
    except ValueError:
        parser.error("--connections and --stored take whole numbers, e.g. 1,8")
    if not args.connections or min(args.connections) < 1:
        parser.error("--connections needs client counts of at least 1")
    if not args.stored or min(args.stored) < 0:
        parser.error("--stored needs ticket counts of 0 or more")
    if not args.workers or min(args.workers) < 1:
        parser.error("--workers needs counts of at least 1")
    if args.count < 2 * max(args.connections):
        parser.error("--count must be at least twice the largest connection count")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.do_nothing_server:
        serve_do_nothing(args.do_nothing_server)
        return
    results: list[Result] = []
    notes: list[str] = []
    if "do-nothing" in args.targets:
        results += measure_do_nothing(args, notes)
    with tempfile.TemporaryDirectory(prefix="sbbench-") as folder:
        tmp = Path(folder)
        if "sqlite" in args.targets:
            (tmp / "templates").mkdir()
            results += measure_supportbot(SqliteStores(tmp / "templates"), args, tmp, notes)
        if "postgresql" in args.targets:
            with postgres_schema(notes) as url:
                if url is not None:
                    results += measure_supportbot(PostgresStores(url), args, tmp, notes)
    if results:
        print(table(results))
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
