"""How long one SLA sweep takes with 10k, 100k and 1M open tickets of which 1 % are due.

The sweep must cost per *due* ticket, not per *open* ticket: it reads only the
tickets whose ``sla_next_check_at`` has passed, through the index
``ix_tickets_sla_next_check_at``, so a desk with a million quiet tickets
sweeps as fast as one with ten thousand as long as the same number are due.
This bench shows whether that holds, on SQLite (a migrated WAL file in a temp
folder) and on PostgreSQL (a private schema on 127.0.0.1:5432, dropped at the
end).

One table per database grows from 10k to 100k to 1M open tickets (rows are
added, never rebuilt; PostgreSQL is ANALYZEd after each growth): status
``open``, priority ``medium``, created over the last three days, due times
set, ``on_time``, escalation level 0, one requester. Every batch of added
rows has exactly 1 % whose next check lies in the past (up to two hours,
picked with a fixed seed); the rest are checked again later today. One admin
exists, so the ladder's ``managers`` levels have someone to tell.

Measured at each size, in the same run:

* ``bare query``: ``SELECT id FROM tickets WHERE sla_next_check_at <= :now
  ORDER BY sla_next_check_at LIMIT 500``, the floor of reading due rows
  through the index (median of 7, after one warm-up).
* ``sweep``: ``Desk.sla_sweep(at=now, dry_run=True, limit=500)`` (median of
  3, after one warm-up), the scheduler's batch size. A dry run rolls its
  work back and stops after ``limit`` tickets, so every repetition sees the same due set
  and checks ``min(due, 500)`` tickets: all 100 due at 10k, the first 500 of
  the 1,000 or 10,000 due at 100k and 1M (a real sweep goes on batch after
  batch). The figure is the real work of a sweep: locking the due rows,
  evaluating each ticket's SLA clock and walking the escalation ladder. The
  due tickets' clocks are far past their targets, so with the default ladder
  up to four levels fire for each in the dry run (escalation rows, audit
  events, notifications for the admin; all rolled back); ``levels fired``
  counts them. ``--batch 0`` sweeps every due ticket in one dry run
  instead; at 1M that takes minutes a run.

How to read it: ``sweep ms / checked`` should stay flat as the open count
grows tenfold each step, and with the same 500 checked at 100k and 1M so
should ``sweep ms``: the cost follows the tickets due, not the tickets open.
A whole backlog costs about ``due x ms / checked``. ``bare query ms`` shows
what the index alone costs. Below the table come the steps reading
``tickets`` in each database's plan for the statement the sweep itself ran
(caught from the driver), which should name the index. Progress goes to
stderr, the table to stdout.

Run from the repository root: ``.venv/bin/python bench/sla_sweep.py --help``.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from scratch_postgres import postgres_schema  # bench/ is the script's folder
from sqlalchemy import event, insert, select, text
from sqlalchemy.engine import Connection
from tabulate import tabulate

from bot.config.settings import Settings, load
from bot.desk.facade import Desk
from bot.model import Role
from bot.store import migrate
from bot.store import tables as t
from bot.store.db import Store

SIZES = (10_000, 100_000, 1_000_000)
DUE_SHARE = 0.01
CHUNK = 10_000
NOW = datetime(2025, 3, 12, 12, 0, tzinfo=UTC)
QUERY_RUNS = 7
SWEEP_RUNS = 3
BATCH = 500
SEED = 20250312

# Every ticket row is written with these columns, in this order.
COLUMNS = (
    "subject",
    "description",
    "status",
    "priority",
    "channel",
    "requester_id",
    "created_at",
    "updated_at",
    "sla_policy",
    "first_response_due",
    "resolution_due",
    "sla_paused_seconds",
    "sla_status",
    "sla_next_check_at",
    "escalation_level",
)
DATETIMES = frozenset(
    {"created_at", "updated_at", "first_response_due", "resolution_due", "sla_next_check_at"}
)


class FixedClock:
    def now(self) -> datetime:
        return NOW


@dataclass(frozen=True, slots=True)
class Result:
    store: str
    open: int
    due: int
    checked: int
    fired: int
    query_ms: float
    sweep_ms: float


# -- filling the table ----------------------------------------------------------------


def seed_people(store: Store) -> int:
    """The requester of every ticket, and an admin: the ladder's default ``managers``."""
    with store.engine.begin() as conn:
        people = [
            {"email": "requester@example.test", "name": "Bench Requester", "role": Role.REQUESTER.value},
            {"email": "manager@example.test", "name": "Bench Manager", "role": Role.ADMIN.value},
        ]
        conn.execute(insert(t.Person), [{**person, "created_at": NOW} for person in people])
        requester = conn.scalar(select(t.Person.id).where(t.Person.email == "requester@example.test"))
    assert requester is not None
    return requester


def ticket_rows(count: int, requester: int, policy: str, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """``count`` open medium tickets (4 h / 24 h), exactly 1 % of them due, in ``COLUMNS`` order."""
    due = set(rng.sample(range(count), round(count * DUE_SHARE)))
    for i in range(count):
        created = NOW - timedelta(seconds=rng.uniform(60, 3 * 86_400))
        if i in due:
            next_check = NOW - timedelta(seconds=rng.uniform(1, 2 * 3600))
        else:
            next_check = NOW + timedelta(seconds=rng.uniform(60, 12 * 3600))
        yield (
            "Printer on the third floor prints blank pages",
            "",
            "open",
            "medium",
            "email",
            requester,
            created,
            created,
            policy,
            created + timedelta(hours=4),
            created + timedelta(hours=24),
            0.0,
            "on_time",
            next_check,
            0,
        )


def chunks(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def add_sqlite(conn: Connection, rows: Iterator[tuple[Any, ...]]) -> None:
    """Plain tuples through the driver's ``executemany``, dates bound as the store's type would."""
    ticket = t.Ticket.__table__
    processors: list[Callable[[Any], Any] | None] = [
        # dialect_impl: SQLite's own DATETIME format (with microseconds), the one the store writes
        # and compares with; the generic processor writes "12:30:00", which sorts before "12:30:00.000000".
        ticket.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        if name in DATETIMES
        else None
        for name in COLUMNS
    ]
    sql = f"INSERT INTO tickets ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
    for chunk in chunks(rows, CHUNK):
        bound = [
            tuple(value if p is None else p(value) for p, value in zip(processors, row, strict=True))
            for row in chunk
        ]
        conn.exec_driver_sql(sql, bound)


def add_postgres(conn: Connection, rows: Iterator[tuple[Any, ...]]) -> None:
    """``COPY ... FROM STDIN`` on the session's own connection, inside its transaction."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    with driver.cursor() as cursor, cursor.copy(f"COPY tickets ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def grow(store: Store, count: int, requester: int, policy: str, rng: random.Random) -> None:
    rows = ticket_rows(count, requester, policy, rng)
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            add_postgres(conn, rows)
        else:
            add_sqlite(conn, rows)
    if store.dialect == "postgresql":
        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE tickets"))


# -- measuring -----------------------------------------------------------------------


def median_ms(runs: int, work: Callable[[], object], *, warm_up: bool = True) -> float:
    if warm_up:
        work()  # caches and prepared plans, not counted
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def bare_query(store: Store, limit: int) -> Callable[[], object]:
    statement = (
        select(t.Ticket.id)
        .where(t.Ticket.sla_next_check_at <= NOW)
        .order_by(t.Ticket.sla_next_check_at)
        .limit(limit)
    )

    def run() -> object:
        with store.engine.connect() as conn:
            return conn.execute(statement).all()

    return run


@contextmanager
def caught_sweep_select(store: Store) -> Iterator[list[tuple[str, Any]]]:
    """The statement and parameters of the sweep's select of due tickets, as the driver got them."""
    caught: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if not caught and statement.startswith("SELECT") and "sla_next_check_at <=" in statement:
            caught.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        yield caught
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)


def plan_steps(store: Store, statement: str, parameters: Any) -> list[str]:
    """The plan's steps, outermost first, costs and conditions left out."""
    explain = "EXPLAIN QUERY PLAN " if store.dialect == "sqlite" else "EXPLAIN "
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(explain + statement, parameters).all()
    if store.dialect == "sqlite":
        return [str(row[-1]) for row in rows]
    lines = [str(row[0]) for row in rows]
    nodes = lines[:1] + [line for line in lines[1:] if "->" in line]  # the other lines are conditions
    return [re.sub(r"\s*\(cost=.*$", "", node).replace("->", "").strip() for node in nodes]


def reading_tickets(steps: list[str]) -> str:
    """Only the steps that read ``tickets`` (the joins to people, teams and categories left out)."""
    return " -> ".join(step for step in steps if re.search(r"\btickets\b|ix_tickets_", step))


def measure(
    name: str, store: Store, settings: Settings, sizes: Sequence[int], batch: int, plans: list[str]
) -> list[Result]:
    desk = Desk(store, FixedClock(), settings)
    requester = seed_people(store)
    policy = desk.rules_in_force().policies.for_ticket("medium", None).name
    rng = random.Random(SEED)
    results: list[Result] = []
    have = 0
    for size in sizes:
        began = time.perf_counter()
        grow(store, size - have, requester, policy, rng)
        have = size
        print(f"  {name:<10} {size:>9,} open: filled in {time.perf_counter() - began:.1f} s", file=sys.stderr)
        due = round(size * DUE_SHARE)
        limit = batch or due
        query_ms = median_ms(QUERY_RUNS, bare_query(store, limit))
        with caught_sweep_select(store) as caught:  # the warm-up run, and the statement to explain
            report = desk.sla_sweep(at=NOW, dry_run=True, limit=limit)
        plans.append(f"{name} {size:,}: {reading_tickets(plan_steps(store, *caught[0]))}")
        sweep = partial(desk.sla_sweep, at=NOW, dry_run=True, limit=limit)
        sweep_ms = median_ms(SWEEP_RUNS, sweep, warm_up=False)
        results.append(Result(name, size, due, report.checked, len(report.fired), query_ms, sweep_ms))
        print(
            f"  {name:<10} {size:>9,} open: query {query_ms:.1f} ms, sweep {sweep_ms:.0f} ms"
            f" ({report.checked} checked, {len(report.fired)} levels fired)",
            file=sys.stderr,
        )
    return results


def settings_for(tmp: Path, url: str) -> Settings:
    return load(None, {"SUPPORTBOT_DATA_DIR": str(tmp / "data"), "SUPPORTBOT_DATABASE_URL": url})


def table(results: list[Result]) -> str:
    rows = [
        [
            r.store,
            f"{r.open:,}",
            f"{r.due:,}",
            f"{r.checked:,}",
            f"{r.fired:,}",
            f"{r.query_ms:.1f}",
            f"{r.sweep_ms:.0f}",
            f"{r.sweep_ms / max(r.checked, 1):.2f}",
        ]
        for r in results
    ]
    headers = [
        "store",
        "open tickets",
        "due tickets",
        "checked",
        "levels fired",
        "bare query ms",
        "sweep ms",
        "sweep ms / checked",
    ]
    return tabulate(rows, headers=headers, disable_numparse=True, colalign=("left",) + ("right",) * 7)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--sizes",
        default=",".join(str(n) for n in SIZES),
        help="comma-separated open ticket counts, ascending (default 10000,100000,1000000)",
    )
    parser.add_argument(
        "--stores",
        default="sqlite,postgresql",
        help="comma-separated: sqlite, postgresql (default both; PostgreSQL is skipped if unreachable)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=BATCH,
        help=f"sweep batch and bare query limit (default {BATCH}, the scheduler's; 0: the number due,"
        " so one dry run checks every due ticket, which at 1M takes minutes per run)",
    )
    args = parser.parse_args(argv)
    args.stores = [name.strip() for name in args.stores.split(",") if name.strip()]
    unknown = set(args.stores) - {"sqlite", "postgresql"}
    if unknown or not args.stores:
        parser.error(f"--stores takes sqlite and/or postgresql, not {args.stores}")
    try:
        args.sizes = [int(n.replace("_", "")) for n in args.sizes.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--sizes takes whole numbers, e.g. 10000,100000, not {args.sizes!r}")
    if not args.sizes or args.sizes != sorted(set(args.sizes)) or args.sizes[0] < 100:
        parser.error("--sizes needs distinct ascending counts of at least 100 (1 % of them are due)")
    if args.batch < 0:
        parser.error("--batch must be 0 (the number due) or a positive batch size")
    return args


def run(name: str, url: str, tmp: Path, args: argparse.Namespace, plans: list[str]) -> list[Result]:
    store = Store(url)
    try:
        migrate.upgrade(store)
        return measure(name, store, settings_for(tmp, url), args.sizes, args.batch, plans)
    finally:
        store.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    results: list[Result] = []
    plans: list[str] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="sbbench-") as folder:
        tmp = Path(folder)
        if "sqlite" in args.stores:
            results += run("sqlite", f"sqlite:///{tmp / 'sweep.db'}", tmp, args, plans)
        if "postgresql" in args.stores:
            with postgres_schema(notes) as url:
                if url is not None:
                    results += run("postgresql", url, tmp, args, plans)
    if results:
        print(table(results))
        print()
        print("Steps reading tickets in the plan of the sweep's select of due tickets:")
        for plan in plans:
            print(f"  {plan}")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
