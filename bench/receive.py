"""How many inbound messages per second ``Desk.receive`` turns into tickets, against a raw insert.

Every ``receive`` is one transaction: find or create the sender, open the
ticket (or find it by reference), add the comment, append audit events,
queue the acknowledgement in the outbox and record the thread refs. It is
measured on SQLite (a fresh WAL file, migrated) and on PostgreSQL (a private
schema on 127.0.0.1:5432, dropped at the end), each workload on an empty
database so the figures do not depend on the order they ran in.

Workloads, each with 1 and more threads sharing the same total:

* ``raw insert``: one ``INSERT`` of a ticket-sized row plus ``COMMIT`` per
  operation into a scratch table, with SQLAlchemy Core on one connection per
  thread, on the store's own engine (same pragmas and pool). This is the
  floor of one durable write transaction on that database.
* ``receive: new``: every message opens a ticket. 200 requesters per
  workload, so at the default count one message in ten comes from a sender
  the desk has not seen yet and creates a person.
* ``receive: 50% replies``: every other message is a reply from the
  requester (``references`` naming an earlier message's key) and becomes a
  comment on that ticket.
* ``receive: new, 50 rules``: as ``receive: new`` with 50 routing rules and an
  SLA policy stored by an admin; no rule matches, so every rule's keywords are
  searched for every ticket (the worst case of routing).

How to read it: ``ops/s`` is operations over wall time, after a short
warm-up. ``vs raw insert`` divides that by the single-thread raw insert rate
of the same database, so ``0.10`` means one ``receive`` costs about ten
minimal write transactions. More threads cannot beat one writer on SQLite
(writes are serialized) and share the CPU and the GIL with each other (and,
on one machine, with the PostgreSQL server); they show whether contention
collapses throughput or raises errors. Progress goes to stderr, the table to
stdout.

Run from the repository root: ``.venv/bin/python bench/receive.py --help``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from scratch_postgres import postgres_schema  # bench/ is the script's folder
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text, create_engine, insert, text
from tabulate import tabulate

from bot.automation.routing_rules import RuleInput
from bot.clock import SystemClock
from bot.config.settings import load
from bot.desk.facade import Desk
from bot.messages import Identity, Inbound, Receipt
from bot.model import Actor
from bot.sla.settings import SlaPolicyOverride
from bot.store import migrate
from bot.store.db import Store
from bot.store.tables import Base

CHANNEL = "email"
SENDERS = 200  # distinct requesters per workload, split between the threads
WARMUP = 50
RULES = 50
RULED = f"receive: new, {RULES} rules"
SUBJECT = "Printer on the third floor prints blank pages"
BODY = ("Since this morning every job comes out blank, toner was replaced last week. " * 7).strip()

raw_metadata = MetaData()
bench_raw = Table(
    "bench_raw",
    raw_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", Text),
    Column("body", Text),
    Column("created_at", DateTime),
    sqlite_autoincrement=True,
)


@dataclass(frozen=True, slots=True)
class Result:
    database: str
    workload: str
    threads: int
    operations: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.operations / self.seconds


# -- databases -----------------------------------------------------------------------


class SqliteDatabase:
    """Migrates one template file; every workload gets its own copy of it."""

    name = "sqlite"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.template = folder / "template.db"
        store = Store(f"sqlite:///{self.template}")
        migrate.upgrade(store)
        store.dispose()
        self._copies = 0

    def fresh(self) -> str:
        self._copies += 1
        target = self.folder / f"run{self._copies}.db"
        shutil.copyfile(self.template, target)
        return f"sqlite:///{target}"


class PostgresDatabase:
    """A private schema, migrated once and truncated before every workload."""

    name = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        store = Store(url)
        try:
            migrate.upgrade(store)
        finally:
            store.dispose()

    def fresh(self) -> str:
        names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                conn.execute(text("DROP TABLE IF EXISTS bench_raw"))
        finally:
            engine.dispose()
        return self.url


# -- timing ---------------------------------------------------------------------------


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def timed(threads: int, work: Callable[[int], None]) -> float:
    """Run ``work(thread_index)`` on every thread at once; seconds from the common start to the last end."""
    start = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        start.wait()
        try:
            work(index)
        except BaseException as error:  # re-raised below, in the main thread
            errors.append(error)

    workers = [threading.Thread(target=run, args=(i,), name=f"bench-{i}") for i in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - began
    if errors:
        raise errors[0]
    return seconds


def raw_insert(store: Store, threads: int, count: int) -> float:
    raw_metadata.create_all(store.engine)
    row = {"subject": SUBJECT, "body": BODY}
    with store.engine.connect() as conn:
        for _ in range(WARMUP):
            with conn.begin():
                conn.execute(insert(bench_raw), {**row, "created_at": datetime.now(UTC)})
    shares = split(count, threads)

    def work(index: int) -> None:
        with store.engine.connect() as conn:
            for _ in range(shares[index]):
                with conn.begin():
                    conn.execute(insert(bench_raw), {**row, "created_at": datetime.now(UTC)})

    return timed(threads, work)


def message(key: str, sender: str, references: tuple[str, ...] = ()) -> Inbound:
    subject = f"Re: {SUBJECT}" if references else SUBJECT
    return Inbound(
        channel=CHANNEL,
        sender=Identity(email=sender, name="Bench Customer"),
        subject=subject,
        text=BODY,
        key=key,
        references=references,
    )


def plan(run: str, thread: int, share: int, senders: int, replies: bool) -> list[tuple[Inbound, bool]]:
    """This thread's messages and whether each must open a ticket; thread pools never share a sender.

    A reply names a message its own thread sent earlier, so the ticket it
    threads to always exists by then and the expected outcome is certain.
    """
    rng = random.Random(f"{run}-{thread}")
    opened: list[tuple[str, str]] = []
    messages: list[tuple[Inbound, bool]] = []
    for j in range(share):
        key = f"<{run}-{thread}-{j}@bench.test>"
        if replies and j % 2 == 1:
            parent, sender = rng.choice(opened)
            messages.append((message(key, sender, (parent,)), False))
        else:
            sender = f"customer-{run}-{thread}-{len(opened) % senders}@example.test"
            messages.append((message(key, sender), True))
            opened.append((key, sender))
    return messages


def receive(desk: Desk, threads: int, count: int, *, replies: bool) -> float:
    for i in range(WARMUP):
        desk.receive(message(f"<warmup-{i}@bench.test>", f"warmup-{i % 10}@example.test"))
    shares = split(count, threads)
    senders = max(1, SENDERS // threads)
    plans = [plan(f"t{threads}", i, share, senders, replies) for i, share in enumerate(shares)]
    receipts: list[list[Receipt]] = [[] for _ in range(threads)]

    def work(index: int) -> None:
        out = receipts[index]
        for inbound, _ in plans[index]:
            out.append(desk.receive(inbound))

    seconds = timed(threads, work)
    for steps, got in zip(plans, receipts, strict=True):
        for (inbound, opens), receipt in zip(steps, got, strict=True):
            expected = "new ticket" if opens else "references"
            if receipt.created != opens or receipt.duplicate or receipt.rule != expected:
                raise AssertionError(f"{inbound.key} gave {receipt}, expected rule {expected!r}")
    return seconds


def store_rules(desk: Desk) -> None:
    """What an admin keeps over the API: keyword rules that none of the messages match."""
    admin = Actor.console()
    for number in range(RULES):
        rule = RuleInput(
            name=f"rule {number}", keywords=(f"word{number}", f"phrase number {number}"), priority="high"
        )
        desk.add_routing_rule(admin, rule)
    desk.add_sla_policy(admin, SlaPolicyOverride(priority="urgent", first_response="10m", resolution="2h"))


def measure(
    database: SqliteDatabase | PostgresDatabase, tmp: Path, threads: Sequence[int], count: int
) -> list[Result]:
    """Every workload on a fresh, empty database; raw insert always includes 1 thread, the reference."""
    results: list[Result] = []
    workloads = [("raw insert", n) for n in sorted({1, *threads})]
    names = ("receive: new", "receive: 50% replies", RULED)
    workloads += [(name, n) for name in names for n in threads]
    for workload, n in workloads:
        url = database.fresh()
        settings = load(None, {"SUPPORTBOT_DATA_DIR": str(tmp / "data"), "SUPPORTBOT_DATABASE_URL": url})
        store = Store(settings.database_url, pool_size=max(settings.database.pool_size, n))
        try:
            if workload == "raw insert":
                seconds = raw_insert(store, n, count)
            else:
                desk = Desk(store, SystemClock(), settings)
                if workload == RULED:
                    store_rules(desk)
                seconds = receive(desk, n, count, replies=workload == "receive: 50% replies")
        finally:
            store.dispose()
        results.append(Result(database.name, workload, n, count, seconds))
        print(f"  {database.name:<10} {workload:<20} x{n}: {count / seconds:7.0f} ops/s", file=sys.stderr)
    return results


def table(results: list[Result]) -> str:
    reference = {r.database: r.rate for r in results if r.workload == "raw insert" and r.threads == 1}
    rows = [
        [
            r.database,
            r.workload,
            r.threads,
            r.operations,
            f"{r.seconds:.2f}",
            f"{r.rate:.0f}",
            f"{r.rate / reference[r.database]:.3f}",
        ]
        for r in results
    ]
    headers = ["database", "workload", "threads", "operations", "seconds", "ops/s", "vs raw insert"]
    return tabulate(rows, headers=headers, disable_numparse=True, colalign=("left", "left") + ("right",) * 5)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=2000, help="operations per workload (default 2000)")
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        help="comma-separated: sqlite, postgresql (default both; PostgreSQL is skipped if unreachable)",
    )
    parser.add_argument("--threads", default="1,4", help="comma-separated thread counts (default 1,4)")
    args = parser.parse_args(argv)
    args.databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    unknown = set(args.databases) - {"sqlite", "postgresql"}
    if unknown or not args.databases:
        parser.error(f"--databases takes sqlite and/or postgresql, not {args.databases}")
    try:
        args.threads = [int(n) for n in args.threads.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--threads takes whole numbers, e.g. 1,4, not {args.threads!r}")
    if not args.threads or min(args.threads) < 1:
        parser.error("--threads needs thread counts of at least 1")
    if args.count < max(args.threads):
        parser.error("--count must be at least the largest thread count")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    results: list[Result] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="sbbench-") as folder:
        tmp = Path(folder)
        if "sqlite" in args.databases:
            sqlite_dir = tmp / "sqlite"
            sqlite_dir.mkdir()
            results += measure(SqliteDatabase(sqlite_dir), tmp, args.threads, args.count)
        if "postgresql" in args.databases:
            with postgres_schema(notes) as url:
                if url is not None:
                    results += measure(PostgresDatabase(url), tmp, args.threads, args.count)
    if results:
        print(table(results))
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
