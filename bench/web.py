"""Web desk page latencies against the REST API calls they match, at 100k and 1M tickets.

The store is filled as ``bench/api.py`` fills it (same rows, same search index), and
the real app ``supportbot serve`` builds (the API and the web desk's routes) is served
by uvicorn in a child process (this script with ``--serve``) on a free loopback port.
An agent signs in to the web desk with a password through the sign-in form (so every
page pays the session lookup a browser's request pays) and also holds an API token.

Each page is measured beside the API call that reads the same data, in the same run:

- the queue page (``/desk?queue=all``: 50 rows, newest first) against
  ``GET /api/v1/tickets?limit=50``, and against the same list narrowed to open high
  priority tickets;
- a ticket's page (``/desk/tickets/SUP-n``, a random ticket) against
  ``GET /api/v1/tickets/SUP-n``;
- a requester's "My tickets" (``/``: 25 rows) against ``GET /api/v1/tickets?limit=25``
  with the requester's token.

The queue page counts its tabs again only after something changed (at most every
``[web] queue_counts_max_age_seconds`` per process, counts capped at 10,000), so the
page rows reuse counts; what a recount costs is its own row, timed in this process.

``GET /healthz`` is the floor (the HTTP stack and one ping of the store). Requests go
one at a time; each row is a few warm-up requests then up to ``--requests`` timed ones
(fewer if ``--budget`` seconds run out first). The ratio columns are the page's p50 and
p95 over its API call's (the issue's target: at most 2).

Run from the repository root: ``.venv/bin/python bench/web.py --help``.
Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from api import Server, each_store, grow, latencies  # bench/ is the script's folder
from sla_sweep import seed_people, settings_for
from sqlalchemy import select, text, update
from tabulate import tabulate

from bot.clock import SystemClock
from bot.desk.facade import Desk
from bot.model import Actor, Role
from bot.store import migrate
from bot.store import tables as t
from bot.store.db import Store
from channels.web.queue_counts import CAP
from channels.web.workspace import queues_for

SIZES = (100_000, 1_000_000)
REQUESTS = 50
BUDGET_S = 20.0
SEED = 20251205
AGENT = "web-agent@support.test"
REQUESTER = "requester@example.test"  # bench/sla_sweep.py's seed_people: every ticket is theirs
PASSWORD = "bench password, not a secret"
COUNT_RUNS = 20
AGENTS = 20
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@dataclass(frozen=True, slots=True)
class Row:
    store: str
    tickets: int
    request: str
    n: int
    p50: float
    p95: float
    ratio: str = ""


def serve(url: str, data_dir: str, port: int) -> None:
    """The child process: the API and the web desk over the given database, until killed."""
    import uvicorn

    from channels.http.api import create_app
    from channels.web.app import web_routes

    store = Store(url)
    settings = settings_for(Path(data_dir), url)
    desk = Desk(store, SystemClock(), settings)
    web = web_routes(desk, settings)
    app = create_app(store, web.routes, desk=desk, limits=web.upload_paths)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def signed_in(base: str, email: str) -> httpx.Client:
    """A browser-like client with a session cookie, signed in through the form."""
    client = httpx.Client(base_url=base, trust_env=False, timeout=120)
    page = client.get("/signin")
    found = CSRF.search(page.text)
    assert found, "no CSRF token on the sign-in page"
    answer = client.post(
        "/signin/password", data={"csrf": found.group(1), "email": email, "password": PASSWORD, "next": "/"}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in as {email} failed: {answer.status_code}")
    return client


def measure_size(
    name: str, size: int, server: Server, tokens: dict[str, str], args: argparse.Namespace
) -> list[Row]:
    rng = random.Random(SEED + size)
    number = [1]

    def pick() -> int:
        number[0] = rng.randint(1, size)
        return number[0]

    api = httpx.Client(
        base_url=server.base,
        headers={"Authorization": f"Bearer {tokens['agent']}"},
        trust_env=False,
        timeout=120,
    )
    own = httpx.Client(
        base_url=server.base,
        headers={"Authorization": f"Bearer {tokens['requester']}"},
        trust_env=False,
        timeout=120,
    )
    agent_web = signed_in(server.base, AGENT)
    requester_web = signed_in(server.base, REQUESTER)
    pairs: list[tuple[str, httpx.Client, Callable[[], str], str, httpx.Client, Callable[[], str]]] = [
        (
            "queue, all",
            agent_web,
            lambda: "/desk?queue=all",
            "API list limit=50",
            api,
            lambda: "/api/v1/tickets?limit=50",
        ),
        (
            "queue, open high",
            agent_web,
            lambda: "/desk?queue=all&status=open&priority=high",
            "API list status=open&priority=high",
            api,
            lambda: "/api/v1/tickets?status=open&priority=high&limit=50",
        ),
        (
            "ticket page",
            agent_web,
            lambda: f"/desk/tickets/SUP-{pick()}",
            "API get ticket",
            api,
            lambda: f"/api/v1/tickets/SUP-{pick()}",
        ),
        (
            "my tickets (requester)",
            requester_web,
            lambda: "/",
            "API list as requester, limit=25",
            own,
            lambda: "/api/v1/tickets?limit=25",
        ),
    ]
    results: list[Row] = []
    try:
        n, p50, p95 = latencies(api, "GET /healthz (floor)", lambda: "/healthz", args)
        results.append(Row(name, size, "GET /healthz (floor)", n, p50, p95))
        for page_label, page_client, page_path, api_label, api_client, api_path in pairs:
            n, api50, api95 = latencies(api_client, api_label, api_path, args)
            results.append(Row(name, size, api_label, n, api50, api95))
            n, p50, p95 = latencies(page_client, "page: " + page_label, page_path, args)
            ratio = f"{p50 / api50:.2f}x / {p95 / api95:.2f}x"
            results.append(Row(name, size, "page: " + page_label, n, p50, p95, ratio))
    finally:
        for client in (api, own, agent_web, requester_web):
            client.close()
    return results


def assign(store: Store, have: int, size: int) -> None:
    """Four tickets in five go to one of the agents (bench/api.py's rows have nobody): a
    desk's real spread, which the planners' statistics then see (all unassigned, SQLite
    would read every ticket to count an agent's queue)."""
    with store.engine.begin() as conn:
        agents = sorted(conn.scalars(select(t.Person.id).where(t.Person.role == Role.AGENT.value)))
        assert agents == list(range(agents[0], agents[0] + AGENTS)), agents
        conn.execute(
            update(t.Ticket)
            .where(t.Ticket.id > have, t.Ticket.id <= size, t.Ticket.id % 5 != 0)
            .values(assignee_id=agents[0] + t.Ticket.id % AGENTS)
        )
        conn.execute(text("ANALYZE"))


def time_counts(name: str, size: int, desk: Desk) -> Row:
    """What the queue page costs when its tabs are counted again (after a change, at most
    every ``queue_counts_max_age_seconds`` per process; the page rows above reuse them)."""
    agent = desk.list_people("agent")[0]
    actor = Actor(agent.id, AGENT, Role.AGENT)
    filters = [tab.filter for tab in queues_for(actor, None)]
    times = []
    for _ in range(COUNT_RUNS):
        began = time.perf_counter()
        desk.count_tickets(actor, filters, cap=CAP)
        times.append((time.perf_counter() - began) * 1000)
    p95 = statistics.quantiles(times, n=20)[18]
    label = f"counting the {len(filters)} queue tabs (capped at {CAP:,})"
    print(f"    {label:<34} p50 {statistics.median(times):8.1f} ms  p95 {p95:8.1f} ms", file=sys.stderr)
    return Row(name, size, label, COUNT_RUNS, statistics.median(times), p95)


def run(name: str, url: str, tmp: Path, args: argparse.Namespace) -> list[Row]:
    store = Store(url)
    try:
        migrate.upgrade(store)
        desk = Desk(store, SystemClock(), settings_for(tmp, url))
        requester = seed_people(store)
        desk.add_person(Actor.console(), AGENT, name="Web Agent", role=Role.AGENT)
        for n in range(1, AGENTS):
            desk.add_person(Actor.console(), f"agent{n}@support.test", role=Role.AGENT)
        for email in (AGENT, REQUESTER):
            desk.set_password(Actor.console(), email, PASSWORD)
        tokens = {
            "agent": desk.create_token(Actor.console(), AGENT, "bench")[1],
            "requester": desk.create_token(Actor.console(), REQUESTER, "bench")[1],
        }
        policy = desk.rules_in_force().policies.for_ticket("medium", None).name
        rng = random.Random(SEED)
        results: list[Row] = []
        have = 0
        for size in args.sizes:
            began = time.perf_counter()
            grow(store, have, size, requester, policy, rng)
            assign(store, have, size)
            have = size
            print(
                f"  {name} {size:,} tickets: loaded in {time.perf_counter() - began:.1f} s", file=sys.stderr
            )
            results.append(time_counts(name, size, desk))
            with Server(url, tmp, script=__file__) as server:
                results += measure_size(name, size, server, tokens, args)
        return results
    finally:
        store.dispose()


def table(results: list[Row]) -> str:
    rows = [
        [r.store, f"{r.tickets:,}", r.request, r.n, f"{r.p50:.1f}", f"{r.p95:.1f}", r.ratio] for r in results
    ]
    headers = ["store", "tickets", "request", "n", "p50 ms", "p95 ms", "page/API p50 / p95"]
    return tabulate(rows, headers=headers, tablefmt="github")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default=",".join(str(n) for n in SIZES), help="ticket counts, ascending")
    parser.add_argument(
        "--stores", default="sqlite,postgresql", help="sqlite and/or postgresql (default both)"
    )
    parser.add_argument("--requests", type=int, default=REQUESTS, help=f"timed requests per row ({REQUESTS})")
    parser.add_argument(
        "--budget", type=float, default=BUDGET_S, help=f"seconds per row at most ({BUDGET_S:g})"
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
    args.sizes = [int(n.replace("_", "")) for n in args.sizes.split(",") if n.strip()]
    if not args.sizes or args.sizes != sorted(set(args.sizes)) or args.sizes[0] < 100:
        parser.error("--sizes needs distinct ascending counts of at least 100")
    if args.requests < 10:
        parser.error("--requests needs at least 10")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.serve:
        serve(args.serve, args.data_dir, args.port)
        return
    results, notes = each_store(args, run, "web.db")
    if results:
        print(table(results))
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
