"""REST API latencies (list, search, get) and export throughput at 100k and 1M tickets.

For each store (SQLite: a migrated WAL file in a temp folder; PostgreSQL: a private
schema on 127.0.0.1:5432, dropped at the end) one ticket table grows from 100k to
1M rows (rows are added, never rebuilt; ANALYZE after each growth). Tickets are
bulk-loaded with ``bench/sla_sweep.py``'s helpers; subjects and descriptions carry
a few words drawn from a small Zipf-weighted vocabulary, so the most common word is
in about half the tickets and the rarest in a few per thousand; every tenth ticket
has one public comment, which the search reads too. Statuses and priorities are
spread so ``status=open&priority=high`` selects about 8 %. ``created_at`` grows
with the id, so a ``created_after`` filter picks the newest N tickets exactly.
Lists are also read sorted by priority (most urgent first) and by SLA due time,
the two orders that need migration 0012's expression indexes.

The search index is built after the load, not row by row: on SQLite the FTS5
insert triggers are dropped for the load, the rows added with one
``INSERT ... SELECT`` and the triggers put back as they were; on PostgreSQL the
GIN indexes are dropped and created again from their own definitions.

At each size the real app (``create_app(store, desk=desk)``) is served by uvicorn
in a child process (this script with ``--serve``) on a free loopback port, and an
agent's bearer token is used for every request. Requests go one at a time over
HTTP with httpx; each latency row is a few warm-up requests and then up to
``--requests`` timed ones (fewer if ``--budget`` seconds run out first; ``n``
says how many). ``GET /healthz`` is the floor: the HTTP stack and one ping of the
store. Exports stream the newest ``--export-rows`` tickets as JSON Lines and CSV;
``rows/s`` and ``MB/s`` are measured at the client, ``server RSS MB`` is the
server process's peak (``VmHWM``) after the export, against its size before
(``VmRSS``), so a stream that holds rows in memory shows up.

Run from the repository root: ``.venv/bin/python bench/api.py --help``.
Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

import httpx
import psycopg
from scratch_postgres import postgres_schema  # bench/ is the script's folder
from sla_sweep import add_postgres, add_sqlite, seed_people, settings_for
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from tabulate import tabulate

from bot.clock import SystemClock
from bot.desk.facade import Desk
from bot.model import Actor, Role
from bot.store import migrate
from bot.store import tables as t
from bot.store.db import Store
from channels.http.tickets import encode_cursor

SIZES = (100_000, 1_000_000)
START = datetime(2024, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=30)  # ticket i is created at START + i * STEP
REQUESTS = 50
WARM_UP = 5
BUDGET_S = 20.0
EXPORT_ROWS = 100_000
COMMENT_EVERY = 10
SEED = 20250312
AGENT = "bench-agent@support.test"

# Zipf weights: the first word is in about half the tickets, the last in a few per thousand.
VOCABULARY = (
    "printer vpn email password laptop invoice login monitor network wifi account screen "
    "keyboard update install license backup server access phone calendar meeting folder "
    "share drive browser battery charger mouse cable dock camera audio headset scanner "
    "firewall proxy token certificate database report export import sync mailbox quota "
    "spam outlook teams zoom slack jira confluence sharepoint onedrive dropbox github "
    "payroll expense travel badge desk chair parking locker kitchen coffee elevator "
    "zeppelin"
).split()
WEIGHTS = list(accumulate(1 / (rank + 1) for rank in range(len(VOCABULARY))))
COMMON, RARE = VOCABULARY[0], VOCABULARY[-1]
STATUSES = (("open", 40), ("in_progress", 15), ("waiting_customer", 10), ("resolved", 20), ("closed", 15))
PRIORITIES = (("low", 30), ("medium", 40), ("high", 20), ("urgent", 10))
COMMENT_COLUMNS = ("ticket_id", "author_id", "body", "public", "flagged", "channel", "created_at")
SQLITE_FTS_TRIGGERS = ("search_fts_ticket_insert", "search_fts_comment_insert")
POSTGRES_SEARCH_INDEXES = ("ix_tickets_search", "ix_comments_search")


@dataclass(frozen=True, slots=True)
class Row:
    store: str
    tickets: int
    request: str
    n: int = 0
    p50: float | None = None
    p95: float | None = None
    rows: int | None = None
    rows_s: float | None = None
    mb_s: float | None = None
    rss: str = ""


# -- filling the tables ---------------------------------------------------------------


def phrase(rng: random.Random, count: int) -> str:
    return " ".join(rng.choices(VOCABULARY, cum_weights=WEIGHTS, k=count))


def ticket_rows(
    first: int, count: int, requester: int, policy: str, rng: random.Random
) -> Iterator[tuple[Any, ...]]:
    """Tickets ``first`` .. ``first + count - 1`` (0-based), in ``sla_sweep.COLUMNS`` order."""
    statuses = [s for s, _ in STATUSES]
    status_weights = list(accumulate(w for _, w in STATUSES))
    priorities = [p for p, _ in PRIORITIES]
    priority_weights = list(accumulate(w for _, w in PRIORITIES))
    for i in range(first, first + count):
        created = START + i * STEP
        yield (
            f"Help with {phrase(rng, 2)}",
            f"My {phrase(rng, 3)} stopped working after the {phrase(rng, 1)} change. Please look.",
            rng.choices(statuses, cum_weights=status_weights)[0],
            rng.choices(priorities, cum_weights=priority_weights)[0],
            "email",
            requester,
            created,
            created,
            policy,
            created + timedelta(hours=4),
            created + timedelta(hours=24),
            0.0,
            "on_time",
            created + timedelta(hours=4),
            0,
        )


def comment_rows(ids: range, requester: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    for ticket_id in ids:
        yield (
            ticket_id,
            requester,
            f"Still broken: {phrase(rng, 2)} too.",
            True,
            False,
            "email",
            START + ticket_id * STEP + timedelta(minutes=5),
        )


def add_comments(conn: Connection, rows: Iterator[tuple[Any, ...]]) -> None:
    if conn.dialect.name == "postgresql":
        driver = conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY comments ({', '.join(COMMENT_COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    created = t.Comment.__table__.c.created_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    assert created is not None
    marks = ", ".join("?" for _ in COMMENT_COLUMNS)
    sql = f"INSERT INTO comments ({', '.join(COMMENT_COLUMNS)}) VALUES ({marks})"
    conn.exec_driver_sql(sql, [(*row[:-1], created(row[-1])) for row in rows])


def grow(store: Store, have: int, size: int, requester: int, policy: str, rng: random.Random) -> None:
    """Add tickets ``have`` .. ``size`` and their comments; the search index is built afterwards."""
    with store.engine.begin() as conn:
        before = conn.scalar(select(func.coalesce(func.max(t.Ticket.id), 0)))
        comments_before = conn.scalar(select(func.coalesce(func.max(t.Comment.id), 0)))
        rows = ticket_rows(have, size - have, requester, policy, rng)
        if store.dialect == "postgresql":
            indexes = conn.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes"
                    " WHERE schemaname = current_schema() AND indexname = ANY(:names)"
                ),
                {"names": list(POSTGRES_SEARCH_INDEXES)},
            ).all()
            for name, _ in indexes:
                conn.execute(text(f'DROP INDEX "{name}"'))
            add_postgres(conn, rows)
        else:
            triggers = conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN (:a, :b)"),
                {"a": SQLITE_FTS_TRIGGERS[0], "b": SQLITE_FTS_TRIGGERS[1]},
            ).all()
            for name, _ in triggers:
                conn.execute(text(f'DROP TRIGGER "{name}"'))
            add_sqlite(conn, rows)
        after = conn.scalar(select(func.max(t.Ticket.id)))
        add_comments(
            conn, comment_rows(range(before + COMMENT_EVERY, after + 1, COMMENT_EVERY), requester, rng)
        )
        if store.dialect == "postgresql":
            conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
            for _, definition in indexes:
                conn.execute(text(definition))
        else:
            # The rows the dropped triggers would have written, as migration 0010 writes them.
            conn.execute(
                text(
                    "INSERT INTO search_fts(rowid, body, ticket_id, public) "
                    "SELECT 2 * id, subject || ' ' || description, id, 1 FROM tickets WHERE id > :id"
                ),
                {"id": before},
            )
            conn.execute(
                text(
                    "INSERT INTO search_fts(rowid, body, ticket_id, public) "
                    "SELECT 2 * id + 1, body, ticket_id, public AND NOT flagged FROM comments WHERE id > :id"
                ),
                {"id": comments_before},
            )
            for _, sql in triggers:
                conn.exec_driver_sql(sql)
    with store.engine.begin() as conn:
        conn.execute(text("ANALYZE"))


# -- serving --------------------------------------------------------------------------


def serve(url: str, data_dir: str, port: int) -> None:
    """The child process: the real app over the given database, until killed."""
    import uvicorn

    from channels.http.api import create_app

    store = Store(url)
    settings = settings_for(Path(data_dir), url)
    app = create_app(store, desk=Desk(store, SystemClock(), settings))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def memory_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """``script --serve``: this one, or another bench's that serves more (bench/web.py)."""

    def __init__(self, url: str, tmp: Path, script: str = __file__) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, script, "--serve", url, "--data-dir", str(tmp), "--port", str(self.port)]
        self.process = subprocess.Popen(command)

    def __enter__(self) -> Server:
        deadline = time.monotonic() + 30
        with httpx.Client(trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the server exited with {self.process.returncode}")
                try:
                    if client.get(self.base + "/healthz").status_code == 200:
                        return self
                except httpx.TransportError:
                    time.sleep(0.1)
        raise RuntimeError("the server did not answer /healthz within 30 s")

    def __exit__(self, *_: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- measuring ------------------------------------------------------------------------


def latencies(
    client: httpx.Client, name: str, paths: Callable[[], str], args: argparse.Namespace
) -> tuple[int, float, float]:
    for _ in range(WARM_UP):
        client.get(paths()).raise_for_status()
    times: list[float] = []
    ends = time.perf_counter() + args.budget
    while len(times) < args.requests and (len(times) < 10 or time.perf_counter() < ends):
        path = paths()
        began = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - began) * 1000)
        response.raise_for_status()
    p95 = statistics.quantiles(times, n=20)[18]
    print(
        f"    {name:<34} n={len(times):>3} p50 {statistics.median(times):8.1f} ms  p95 {p95:8.1f} ms",
        file=sys.stderr,
    )
    return len(times), statistics.median(times), p95


def export(client: httpx.Client, path: str, header_lines: int) -> tuple[int, float, float, bool]:
    """Rows, rows/s, MB/s, and whether the stream ended properly (not cut short by the server)."""
    began = time.perf_counter()
    size = lines = 0
    complete = True
    with client.stream("GET", path, timeout=600) as response:
        response.raise_for_status()
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                lines += chunk.count(b"\n")
        except httpx.RemoteProtocolError:
            complete = False  # the server failed mid-stream; its log has the traceback
    seconds = time.perf_counter() - began
    rows = lines - header_lines
    return rows, rows / seconds, size / seconds / 1e6, complete


def measure_size(name: str, size: int, server: Server, token: str, args: argparse.Namespace) -> list[Row]:
    rng = random.Random(SEED + size)
    results: list[Row] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base, headers=headers, trust_env=False, timeout=120) as client:
        deep = encode_cursor(size // 2)
        cases: list[tuple[str, Callable[[], str]]] = [
            ("GET /healthz (floor)", lambda: "/healthz"),
            ("list limit=50", lambda: "/api/v1/tickets?limit=50"),
            ("list limit=50, cursor at middle", lambda: f"/api/v1/tickets?limit=50&cursor={deep}"),
            ("list status=open&priority=high", lambda: "/api/v1/tickets?status=open&priority=high&limit=50"),
            ("list sort=-priority", lambda: "/api/v1/tickets?sort=-priority&limit=50"),
            ("list sort=due", lambda: "/api/v1/tickets?sort=due&limit=50"),
            (f"search q={COMMON} (common)", lambda: f"/api/v1/tickets/search?q={COMMON}&limit=50"),
            (f"search q={RARE} (rare)", lambda: f"/api/v1/tickets/search?q={RARE}&limit=50"),
            ("get random number", lambda: f"/api/v1/tickets/SUP-{rng.randint(1, size)}"),
        ]
        for label, paths in cases:
            n, p50, p95 = latencies(client, label, paths, args)
            results.append(Row(name, size, label, n, p50, p95))
        newest = min(args.export_rows, size)
        after = (START + (size - newest) * STEP).isoformat().replace("+00:00", "Z")
        for fmt, header_lines in (("jsonl", 0), ("csv", 1)):
            before_mb = memory_mb(server.process.pid, "VmRSS")
            rows, rows_s, mb_s, complete = export(
                client, f"/api/v1/tickets/export?format={fmt}&created_after={after}", header_lines
            )
            peak_mb = memory_mb(server.process.pid, "VmHWM")
            rss = f"{before_mb:.0f} -> peak {peak_mb:.0f}"
            print(
                f"    export {fmt:<5} {rows:>9,} rows {rows_s:9,.0f} rows/s {mb_s:6.1f} MB/s RSS {rss}",
                file=sys.stderr,
            )
            label = f"export {fmt} (newest {newest:,})" + ("" if complete else " CUT SHORT")
            results.append(Row(name, size, label, 1, rows=rows, rows_s=rows_s, mb_s=mb_s, rss=rss))
    return results


def run(name: str, url: str, tmp: Path, args: argparse.Namespace) -> list[Row]:
    store = Store(url)
    try:
        migrate.upgrade(store)
        desk = Desk(store, SystemClock(), settings_for(tmp, url))
        requester = seed_people(store)
        desk.add_person(Actor.console(), AGENT, name="Bench Agent", role=Role.AGENT)
        _, token = desk.create_token(Actor.console(), AGENT, "bench")
        policy = desk.rules_in_force().policies.for_ticket("medium", None).name
        rng = random.Random(SEED)
        results: list[Row] = []
        have = 0
        for size in args.sizes:
            began = time.perf_counter()
            grow(store, have, size, requester, policy, rng)
            have = size
            print(
                f"  {name} {size:,} tickets: loaded and indexed in {time.perf_counter() - began:.1f} s",
                file=sys.stderr,
            )
            with Server(url, tmp) as server:
                results += measure_size(name, size, server, token, args)
        return results
    finally:
        store.dispose()


def fmt(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def table(results: list[Row]) -> str:
    rows = [
        [
            r.store,
            f"{r.tickets:,}",
            r.request,
            r.n,
            fmt(r.p50, ".1f"),
            fmt(r.p95, ".1f"),
            fmt(r.rows, ","),
            fmt(r.rows_s, ",.0f"),
            fmt(r.mb_s, ".1f"),
            r.rss,
        ]
        for r in results
    ]
    headers = [
        "store",
        "tickets",
        "request",
        "n",
        "p50 ms",
        "p95 ms",
        "rows",
        "rows/s",
        "MB/s",
        "server RSS MB",
    ]
    return tabulate(
        rows, headers=headers, disable_numparse=True, colalign=("left", "right", "left") + ("right",) * 7
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--sizes",
        default=",".join(str(n) for n in SIZES),
        help="ticket counts, ascending (default 100000,1000000)",
    )
    parser.add_argument(
        "--stores",
        default="sqlite,postgresql",
        help="comma-separated: sqlite, postgresql (default both; PostgreSQL is skipped if unreachable)",
    )
    parser.add_argument(
        "--requests", type=int, default=REQUESTS, help=f"timed requests per latency row (default {REQUESTS})"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=BUDGET_S,
        help=f"seconds per latency row before stopping early, at least 10 requests (default {BUDGET_S:g})",
    )
    parser.add_argument(
        "--export-rows",
        type=int,
        default=EXPORT_ROWS,
        help=f"newest tickets each export selects (default {EXPORT_ROWS:,})",
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return args
    args.stores = [name.strip() for name in args.stores.split(",") if name.strip()]
    if set(args.stores) - {"sqlite", "postgresql"} or not args.stores:
        parser.error(f"--stores takes sqlite and/or postgresql, not {args.stores}")
    try:
        args.sizes = [int(n.replace("_", "")) for n in args.sizes.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--sizes takes whole numbers, e.g. 100000,1000000, not {args.sizes!r}")
    if not args.sizes or args.sizes != sorted(set(args.sizes)) or args.sizes[0] < 100:
        parser.error("--sizes needs distinct ascending counts of at least 100")
    if args.requests < 10 or args.export_rows < 1:
        parser.error("--requests needs at least 10 and --export-rows at least 1")
    return args


def each_store(
    args: argparse.Namespace, run: Callable[[str, str, Path, argparse.Namespace], list[Any]], db: str
) -> tuple[list[Any], list[str]]:
    """``run`` on each of ``--stores``: SQLite as ``db`` in a temporary folder, PostgreSQL in a
    scratch schema (dropped after; a note says so if the server is not there)."""
    results: list[Any] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="sbbench-") as folder:
        tmp = Path(folder)
        if "sqlite" in args.stores:
            results += run("sqlite", f"sqlite:///{tmp / db}", tmp, args)
        if "postgresql" in args.stores:
            with postgres_schema(notes) as url:
                if url is not None:
                    results += run("postgresql", url, tmp, args)
    return results, notes


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.serve:
        serve(args.serve, args.data_dir, args.port)
        return
    results, notes = each_store(args, run, "api.db")
    if results:
        print(table(results))
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
