"""Slack slash-command acknowledgement latency of ``supportbot serve``, idle and under email load.

Slack shows the user an error when a slash command is not answered within 3 s,
even if the work then happens, so the listener acks first and leaves the store
to a background task (channels/slack/listeners.py). This checks that the ack
does not wait for a busy store: bursts of 20 signed ``/ticket`` commands at
once, each timed from sending to its HTTP response (the ack), with no other
traffic and while bench/email_ingest.py's message stream (half new tickets,
half replies) goes in over 8 SMTP connections.

Rows: ``GET /healthz (reference)``, the same bursts on a route that only pings
the store in a worker thread: what any request costs on the server just then;
``/ticket help``, answered inside the ack; ``/ticket new <subject>``, acked
empty, the ticket then opened in the background and announced at the
command's response_url. ``opened p50 ms`` runs from sending ``new`` to that
announcement: the work the ack did not wait for. ``email msg/s`` is what SMTP
took in meanwhile.

The real server (HTTP, SMTP, scheduler, outbox as shipped) runs on a fresh
SQLite file, then on a private PostgreSQL schema (skipped with a note if
unreachable); Slack's Web API and the response URLs are answered by
``tests.slack_api.SlackApiStandIn`` in this process. A round is one burst of
each kind and waits for its ``new`` answers, so "idle" means no email (the
outbox may still be sending earlier rounds' notifications). 10 rounds give 200
samples a row, so p99 is the second slowest. Clients, stand-in and server share
this machine's CPUs. Progress goes to stderr; the table, and a check that every
``new`` became a ticket, to stdout. About 30 s per database on 2 cores.

Run from the repository root: ``.venv/bin/python bench/slack_ack.py --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import smtplib
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx
from email_ingest import deliver, plan, serve_process  # bench/ is the script's folder
from scratch_postgres import postgres_schema
from tabulate import tabulate

from tests.e2e.process import clean_environment, free_port, supportbot
from tests.slack_api import SlackApiStandIn, sign

SECRET = "bench-signing-secret"
USER, USER_EMAIL = "UBENCH", "bench.user@example.test"
KINDS = ("GET /healthz (reference)", "/ticket help", "/ticket new")
RAMP_SECONDS = 2.0  # email load runs this long before the first timed burst


@dataclass(frozen=True, slots=True)
class Server:
    url: str
    smtp_port: int
    env: dict[str, str]


@dataclass(slots=True)
class Phase:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    opened: list[float] = field(default_factory=list)
    email_rate: float | None = None


@contextmanager
def serve(url: str | None, folder: Path, api: SlackApiStandIn) -> Iterator[Server]:
    """``supportbot serve`` with Slack on, HTTP and SMTP on free ports; stopped with SIGTERM."""
    env = clean_environment() | {
        "SUPPORTBOT_DATA_DIR": str(folder),
        "SUPPORTBOT_HTTP_PORT": str(free_port()),
        "SUPPORTBOT_SMTP_PORT": str(free_port()),
        "SUPPORTBOT_SLACK_BOT_TOKEN": "xoxb-bench",
        "SUPPORTBOT_SLACK_SIGNING_SECRET": SECRET,
        "SUPPORTBOT_SLACK_API_URL": api.base_url,
        "SUPPORTBOT_SLACK_SUPPORT_CHANNEL": "CSUPPORT",
    }
    if url is not None:
        env["SUPPORTBOT_DATABASE_URL"] = url
        upgraded = supportbot(env, "db", "upgrade")
        if upgraded.returncode != 0:
            raise RuntimeError(f"supportbot db upgrade failed:\n{upgraded.stderr}")
    server = Server(f"http://127.0.0.1:{env['SUPPORTBOT_HTTP_PORT']}", int(env["SUPPORTBOT_SMTP_PORT"]), env)
    with (
        serve_process(env, folder, server.smtp_port) as (log, _),
        httpx.Client(trust_env=False, timeout=5) as client,
    ):
        if client.get(f"{server.url}/healthz").status_code != 200:
            raise RuntimeError(f"/healthz is not 200:\n{log.read_text(errors='replace')}")
        yield server


@contextmanager
def email_load(port: int, connections: int, run: str) -> Iterator[list[list[int]]]:
    """email_ingest's message stream until the block ends; yields [answered 250, refused] per connection."""
    plans = plan(run, 50_000, connections, 0)
    counts = [[0, 0] for _ in plans]  # one list per thread: no increments lost between threads
    errors: list[BaseException] = []
    stop = threading.Event()

    def send(index: int) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                client.ehlo()
                for mail in plans[index]:
                    if stop.is_set():
                        return
                    counts[index][deliver(client, mail)[0] != 250] += 1
            errors.append(RuntimeError(f"SMTP connection {index} ran out of messages"))
        except BaseException as error:  # re-raised in the main thread
            errors.append(error)

    threads = [threading.Thread(target=send, args=(i,), name=f"smtp-{i}") for i in range(connections)]
    for thread in threads:
        thread.start()
    try:
        yield counts
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]


class Bursts:
    """Builds signed slash commands as Slack sends them and times bursts of requests."""

    def __init__(self, api: SlackApiStandIn, server: Server, concurrency: int) -> None:
        self.api, self.server, self.concurrency = api, server, concurrency
        self.commands = 0
        self.news = 0

    def command(self, client: httpx.AsyncClient, text: str) -> tuple[httpx.Request, str]:
        self.commands += 1
        name = f"cmd{self.commands}"
        form = {
            "token": "legacy",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "channel_id": "CGENERAL",
            "user_id": USER,
            "command": "/ticket",
            "text": text,
            "response_url": self.api.response_url(name),
            "trigger_id": f"bench.{self.commands}",
        }
        body = urlencode(form).encode()
        headers = {**sign(body, SECRET), "Content-Type": "application/x-www-form-urlencoded"}
        return client.build_request(
            "POST", f"{self.server.url}/slack/events", content=body, headers=headers
        ), name

    async def burst(
        self, client: httpx.AsyncClient, requests: list[tuple[httpx.Request, str]]
    ) -> tuple[list[float], dict[str, float]]:
        """All requests at once: each one's seconds to its response, and when each was sent."""
        sent: dict[str, float] = {}

        async def one(request: httpx.Request, name: str) -> float:
            sent[name] = time.monotonic()
            response = await client.send(request)
            elapsed = time.monotonic() - sent[name]
            if response.status_code != 200:
                raise RuntimeError(
                    f"{request.url.path} answered {response.status_code}: {response.text[:200]}"
                )
            return elapsed

        latencies = await asyncio.gather(*(one(request, name) for request, name in requests))
        return list(latencies), sent

    async def rounds(self, count: int) -> Phase:
        phase = Phase()
        async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
            for _ in range(count):
                url = f"{self.server.url}/healthz"
                health = [(client.build_request("GET", url), f"h{i}") for i in range(self.concurrency)]
                phase.latencies[KINDS[0]] += (await self.burst(client, health))[0]
                helps = [self.command(client, "help") for _ in range(self.concurrency)]
                phase.latencies[KINDS[1]] += (await self.burst(client, helps))[0]
                news = [
                    self.command(client, f"new Bench ticket {self.commands}") for _ in range(self.concurrency)
                ]
                self.news += len(news)
                timed, sent = await self.burst(client, news)
                phase.latencies[KINDS[2]] += timed
                phase.opened += [at - sent[name] for name, at in (await self.answers(sent)).items()]
        return phase

    async def answers(self, sent: dict[str, float], timeout: float = 60) -> dict[str, float]:
        """When each command's "Opened ..." answer reached its response_url; waits for all of them."""
        deadline = time.monotonic() + timeout
        while True:
            found = {
                call.method.removeprefix("response:"): call.at
                for call in self.api.calls()
                if call.method.removeprefix("response:") in sent
                and str(call.params.get("text")).startswith("Opened")
            }
            if len(found) == len(sent) or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.02)


def measure(
    database: str, url: str | None, folder: Path, args: argparse.Namespace, notes: list[str]
) -> list[list[str]]:
    with SlackApiStandIn() as api, serve(url, folder, api) as server:
        api.add_user(USER, USER_EMAIL, "Bench User")
        bursts = Bursts(api, server, args.concurrency)
        asyncio.run(bursts.rounds(1))  # warm-up: lazy imports, connections, the user cache
        idle = asyncio.run(bursts.rounds(args.rounds))
        print(f"  {database}: idle phase done", file=sys.stderr)
        with email_load(server.smtp_port, args.connections, f"slack-{database}") as counts:
            time.sleep(RAMP_SECONDS)
            before, began = sum(ok for ok, _ in counts), time.monotonic()
            loaded = asyncio.run(bursts.rounds(args.rounds))
            loaded.email_rate = (sum(ok for ok, _ in counts) - before) / (time.monotonic() - began)
        print(f"  {database}: loaded phase done ({loaded.email_rate:.1f} email msg/s)", file=sys.stderr)
        if refused := sum(no for _, no in counts):
            notes.append(f"{database}: {refused} email messages not answered 250")
        listed = supportbot(
            server.env, "tickets", "list", "--requester", USER_EMAIL, "--format", "json", "--limit", "10000"
        )
        tickets = len(json.loads(listed.stdout)) if listed.returncode == 0 else f"? ({listed.stderr.strip()})"
        answered = len(idle.opened) + len(loaded.opened)
        notes.append(
            f"{database}: {bursts.news} `/ticket new` sent (incl. {args.concurrency} warm-up); "
            f"{tickets} tickets listed for {USER_EMAIL} by `supportbot tickets list`; "
            f"{answered} of {bursts.news - args.concurrency} timed ones answered at their response_url"
        )
    return [
        row(database, kind, name, phase)
        for kind in KINDS
        for name, phase in (("idle", idle), ("email load", loaded))
    ]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def row(database: str, kind: str, name: str, phase: Phase) -> list[str]:
    values = phase.latencies[kind]
    opened = f"{percentile(phase.opened, 0.5) * 1000:.0f}" if kind == KINDS[2] and phase.opened else "-"
    rate = f"{phase.email_rate:.1f}" if phase.email_rate is not None else "-"
    millis = [f"{percentile(values, q) * 1000:.1f}" for q in (0.5, 0.99, 1.0)]
    return [database, kind, name, str(len(values)), *millis, opened, rate]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=10, help="bursts of each kind per phase (default 10)")
    parser.add_argument("--concurrency", type=int, default=20, help="requests per burst (default 20)")
    parser.add_argument(
        "--connections", type=int, default=8, help="SMTP connections of the email load (default 8)"
    )
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql (default both)"
    )
    args = parser.parse_args(argv)
    args.databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    if not args.databases or set(args.databases) - {"sqlite", "postgresql"}:
        parser.error(f"--databases takes sqlite and/or postgresql, not {args.databases}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    rows: list[list[str]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="sbbench-") as folder:
        tmp = Path(folder)
        if "sqlite" in args.databases:
            rows += measure("SQLite", None, tmp / "sqlite", args, notes)
        if "postgresql" in args.databases:
            with postgres_schema(notes) as url:
                if url is not None:
                    rows += measure("PostgreSQL", url, tmp / "postgresql", args, notes)
    headers = ["database", "request", "phase", "requests", "p50 ms", "p99 ms", "max ms", "opened p50 ms"]
    headers.append("email msg/s")
    print(tabulate(rows, headers=headers, disable_numparse=True, colalign=("left",) * 3 + ("right",) * 6))
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
