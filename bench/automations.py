"""What automation rules add to an event, and what the time-based rules' sweep costs.

Two parts, each on SQLite (a migrated WAL file in a temp folder) and on
PostgreSQL (a private schema on 127.0.0.1:5432, dropped at the end); each part
gets a database of its own.

**Per event.** Three events, each through the desk as a channel sends it
(system clock, one thread):

* ``status change``: ``Desk.transition`` by an agent (open <-> in_progress), on
  a ticket this row has not touched yet; rules on the ``status_changed``
  trigger.
* ``email reply``: ``Desk.receive`` of the requester's reply (``references``
  naming the ticket's first message), which becomes a public comment; rules on
  ``comment_added``.
* ``new email``: ``Desk.receive`` of a message from a new customer (a new
  person each time: a sender's acknowledgements are limited per hour, and rows
  must not differ by who was still answered), which opens a ticket; rules on
  ``ticket_created`` (they place the ticket before it is written).

For each event the rows are: no rules at all (the reference), then 10, 100
and 1,000 enabled rules on that event's trigger where none matches, then the
same counts where only the last one matches (it adds a tag the ticket does not
have yet, so it really changes it and writes its run log row). The rules that
do not match are a mix, cycling through six shapes, several with conditions
that hold before the one that fails: ``channel is email`` and ``priority in
[high, urgent]``; ``status is_not closed`` and ``text contains`` two phrases;
``tags contains``; ``requester_domain is``; ``priority is medium`` and any of
``text matches`` an RE2 pattern or ``subject starts_with``; any of
``requester_domain in`` or ``tags contains``. The one that matches:
``requester_domain is example.test`` and ``text contains printer``, adding a
tag.

Rules are put in place by Core inserts into ``automation_rules``
(``definition`` = ``parse_rule(...).as_json()``, as ``Desk.add_automation``
stores it) with the rule book's version counted up in the same transaction
(``bot.policies.book.begin_change``), so the desk compiles them again on its
next transaction, as after an admin's change. Adding a thousand through
``Desk.add_automation`` would take over a minute: each add compiles the whole
book again.

A busy machine (other processes on the same cores) makes rows measured at
different moments disagree, so a row's events are split into ``--rounds``
rounds; each round runs every row of the event once, in a shuffled order
(fixed seed), on its own slice of a pool of tickets opened by mail when the
database is made, so a row never meets a ticket twice. Each row of a round:
its rules put in place, ``--warm-up`` untimed events (the first compiles the
new rule book), then its share of ``--events`` timed ones. A check after each
(not on time): the last rule ran once per event when it matches, no rule ran
otherwise.

Columns: ``p50 ms`` / ``p95 ms`` per event, wall time of the desk call;
``added`` is that minus the same event's reference (the ``none`` row) in the
same run. ``cpu p50 ms`` is this process's CPU time per event (rule evaluation
is all there; it is steadier than wall time on a busy machine, and leaves out
the PostgreSQL server's work) and ``added cpu`` its difference from the
reference. ``statements`` is the mean number of statements the desk sent per
timed event: it must not grow with the number of rules. ``conditions alone
ms`` is the pure part: the same rules' trigger and conditions evaluated in a
loop over an in-memory ticket (``bot.rules.conditions``, no store), per event.
The issue's target: 100 rules add under 1 ms.

**Time-based sweep.** ``--open`` open tickets (100,000) bulk-loaded with Core
(``COPY`` on PostgreSQL, ``executemany`` on SQLite, like ``bench/sla_sweep.py``):
all ``waiting_customer``; 1 % of them changed status 3.1 to 5 days ago, the rest
within the last 2.9 days, so their ``automation_check_at`` lies in the future.
One rule: ``{"on": "time", "since": "status_changed", "after": "3d"}``, status
is ``waiting_customer``, ``add_tags``. Rows (fixed clock):

* ``0 (floor)``: ``Desk.automation_sweep()`` with nothing due (median of 7):
  one indexed query and the rule book's version read, in one transaction.
* 0.1 % and 1 % due (``--due``, in per cent of open): before every sweep the due
  tickets' ``automation_check_at`` is set to their due time (the rest of the 1 %
  as a sweep leaves them: none), their firings and the tag removed, untimed;
  then one sweep fires the rule for every due ticket (batches of 500, one
  transaction each, as the scheduler runs it). The median of ``--sweep-runs``,
  after one warm-up sweep before the first of these rows.

``ms / due`` should stay flat from 0.1 % to 1 %: the cost follows the tickets
due, not the tickets open. Below the table, the steps reading ``tickets`` in
each database's plan for the sweep's select of due tickets (caught from the
driver), which should name ``ix_tickets_automation_check_at``.

Nothing is asserted on time. Progress goes to stderr, the tables and the command
to stdout. Run from the repository root: ``.venv/bin/python bench/automations.py
--help``; ``--quick`` for small sizes (a smoke run of about a minute).
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

import psycopg
from scratch_postgres import postgres_schema  # bench/ is the script's folder
from sla_sweep import plan_steps, reading_tickets, seed_people, settings_for
from sqlalchemy import bindparam, delete, event, func, insert, select, text
from sqlalchemy.engine import Connection
from tabulate import tabulate

from bot.clock import SystemClock
from bot.config.settings import Settings
from bot.desk.facade import Desk
from bot.messages import Identity, Inbound
from bot.model import Actor, Role, Status
from bot.policies.book import begin_change
from bot.rules.conditions import Change, Occurrence, matches, trigger_fits
from bot.rules.model import Rule
from bot.rules.parse import parse_rule
from bot.store import migrate
from bot.store import tables as t
from bot.store.db import Store

RULE_COUNTS = (10, 100, 1_000)
EVENTS = 300
WARM_UP = 5  # per round of a row
ROUNDS = 6
OPEN = 100_000
DUE_PERCENT = (0.1, 1.0)
CANDIDATE_SHARE = 0.01  # tickets past their 3 days (at most this many can be due)
SWEEP_RUNS = 3
FLOOR_RUNS = 7
BATCH = 500
CHUNK = 10_000
SEED = 20250312
NOW = datetime(2025, 3, 12, 12, 0, tzinfo=UTC)  # the sweep's fixed clock

KINDS = {"status": "status change", "reply": "email reply", "new": "new email"}
TRIGGER = {"status": "status_changed", "reply": "comment_added", "new": "ticket_created"}
SUBJECT = "Printer on the third floor prints blank pages"
BODY = "Since this morning every job comes out blank, toner was replaced last week."
REPLY = "Still blank after restarting the printer, and the test page is blank too."
SENDERS = 50
AGENT = "bench-agent@support.test"
REMINDED = "reminded"


# -- rules ------------------------------------------------------------------------------


def missing_rule(on: str, k: int) -> dict[str, Any]:
    """The k-th rule that none of the bench's tickets match, in one of six shapes."""
    shapes: list[dict[str, Any]] = [
        {
            "all": [
                {"field": "channel", "op": "is", "value": "email"},
                {"field": "priority", "op": "in", "value": ["high", "urgent"]},
            ]
        },
        {
            "all": [
                {"field": "status", "op": "is_not", "value": "closed"},
                {"field": "text", "op": "contains", "value": [f"outage {k}", f"server{k} down"]},
            ]
        },
        {"all": [{"field": "tags", "op": "contains", "value": [f"vip-{k}", f"key-account-{k}"]}]},
        {"all": [{"field": "requester_domain", "op": "is", "value": f"customer{k}.example"}]},
        {
            "all": [{"field": "priority", "op": "is", "value": "medium"}],
            "any": [
                {"field": "text", "op": "matches", "value": rf"(?i)\binvoice\s*#?{k}-\d+"},
                {"field": "subject", "op": "starts_with", "value": f"[case {k}]"},
            ],
        },
        {
            "any": [
                {
                    "field": "requester_domain",
                    "op": "in",
                    "value": [f"partner{k}.example", f"vendor{k}.example"],
                },
                {"field": "tags", "op": "contains", "value": f"escalated-{k}"},
            ]
        },
    ]
    actions: list[list[dict[str, Any]]] = [
        [{"do": "add_tags", "tags": [f"rule-{k}"]}],
        [{"do": "set_priority", "value": "high"}],
        [{"do": "add_note", "text": f"Rule {k} thinks this needs a look."}],
    ]
    return {
        "name": f"bench rule {k}",
        "trigger": {"on": on},
        "conditions": shapes[k % len(shapes)],
        "actions": actions[k % len(actions)],
    }


def matching_rule(on: str, tag: str) -> dict[str, Any]:
    return {
        "name": f"bench match {tag}",
        "trigger": {"on": on},
        "conditions": {
            "all": [
                {"field": "requester_domain", "op": "is", "value": "example.test"},
                {"field": "text", "op": "contains", "value": "printer"},
            ]
        },
        "actions": [{"do": "add_tags", "tags": [tag]}],
    }


def rule_set(on: str, count: int, last_matches: bool, tag: str) -> list[dict[str, Any]]:
    rules = [missing_rule(on, k) for k in range(count - 1 if last_matches else count)]
    return rules + [matching_rule(on, tag)] if last_matches else rules


def replace_rules(store: Store, rules: Sequence[dict[str, Any]]) -> list[int]:
    """The stored rules become ``rules`` (positions 10, 20, ...), in one transaction that
    counts up the rule book's version; their ids in order."""
    now = datetime.now(UTC)
    rows = []
    for index, data in enumerate(rules):
        position = (index + 1) * 10
        definition = parse_rule(data, position=position).as_json()
        definition["position"] = position
        rows.append(
            {
                "name": data["name"],
                "position": position,
                "enabled": True,
                "trigger": data["trigger"]["on"],
                "definition": definition,
                "created_at": now,
                "updated_at": now,
            }
        )
    with store.transaction() as session:
        begin_change(session)
        session.execute(delete(t.AutomationRule))
        if rows:
            session.execute(insert(t.AutomationRule), rows)
        return list(session.scalars(select(t.AutomationRule.id).order_by(t.AutomationRule.position)))


# -- the pure part ----------------------------------------------------------------------


class MemoryFacts:
    """A ticket as the bench's events see it, from a dict (no store)."""

    def __init__(self, values: dict[str, object]) -> None:
        self.values = values

    def value(self, field: str) -> object:
        return self.values.get(field)

    def hours_since(self, anchor: str, business: bool) -> float | None:
        return 1.0

    def business_hours_now(self) -> bool:
        return True


def conditions_alone_ms(kind: str, rules: Sequence[dict[str, Any]]) -> float:
    """Evaluating the rules' trigger and conditions for one event, with no store (median)."""
    parsed: list[Rule] = [parse_rule(data, rule_id=i + 1) for i, data in enumerate(rules)]
    comment = REPLY if kind == "reply" else BODY
    facts = MemoryFacts(
        {
            "status": "open",
            "priority": "medium",
            "channel": "email",
            "tags": (),
            "requester": "customer-1@example.test",
            "requester_domain": "example.test",
            "subject": SUBJECT,
            "comment": comment,
            "text": f"{SUBJECT}\n{comment}",
        }
    )
    change = Change("status", "open", "in_progress") if kind == "status" else None
    occurrence = {
        "status": Occurrence("status_changed", change=change),
        "reply": Occurrence("comment_added", visibility="public", author="requester", channel="email"),
        "new": Occurrence("ticket_created"),
    }[kind]

    def once() -> int:
        return sum(
            1
            for rule in parsed
            if trigger_fits(rule.trigger, occurrence) and matches(rule.conditions, facts, change)
        )

    once()
    passes = max(1, 20_000 // max(len(parsed), 1))
    times = []
    for _ in range(7):
        began = time.perf_counter()
        for _ in range(passes):
            once()
        times.append((time.perf_counter() - began) * 1000 / passes)
    return statistics.median(times)


# -- per event --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventResult:
    store: str
    event: str
    rules: int
    matching: str
    p50: float
    p95: float
    cpu: float  # p50 of this process's CPU time per event
    statements: float
    alone: float


@dataclass(slots=True)
class Pool:
    """Tickets opened by mail when the database was made: number, first message key, sender."""

    tickets: list[tuple[str, int, str, str]]
    serial: int = 0

    def key(self) -> str:
        self.serial += 1
        return f"<bench-{self.serial}@example.test>"


def inbound(key: str, sender: str, references: tuple[str, ...] = ()) -> Inbound:
    return Inbound(
        channel="email",
        sender=Identity(email=sender, name="Bench Customer"),
        subject=f"Re: {SUBJECT}" if references else SUBJECT,
        text=REPLY if references else BODY,
        key=key,
        references=references,
    )


def open_pool(desk: Desk, size: int) -> Pool:
    pool = Pool([])
    for i in range(size):
        key, sender = f"<pool-{i}@example.test>", f"customer-{i % SENDERS}@example.test"
        receipt = desk.receive(inbound(key, sender))
        assert receipt.created and receipt.ticket_number is not None and receipt.ticket_id is not None
        pool.tickets.append((receipt.ticket_number, receipt.ticket_id, key, sender))
    return pool


def event_calls(
    desk: Desk,
    store: Store,
    kind: str,
    pool: Pool,
    tickets: Sequence[tuple[str, int, str, str]],
    agent: Actor,
) -> list[Callable[[], object]]:
    """One call per ticket of ``tickets``: its status changed, a reply to it, or (``new``) a
    new message from a new customer."""
    calls: list[Callable[[], object]] = []
    if kind == "reply":
        for _, _, first, sender in tickets:
            calls.append(partial(desk.receive, inbound(pool.key(), sender, (first,))))
        return calls
    if kind == "new":
        # A new customer each time: a sender's acknowledgements are limited per hour
        # (``[email] ack_limit``), and rows must not differ by who was still answered.
        for _ in tickets:
            key = pool.key()
            calls.append(partial(desk.receive, inbound(key, f"new-{key[1:-1].split('@')[0]}@example.test")))
        return calls
    with store.read() as session:
        ids = [ticket_id for _, ticket_id, _, _ in tickets]
        status = {
            i: s for i, s in session.execute(select(t.Ticket.id, t.Ticket.status).where(t.Ticket.id.in_(ids)))
        }
    for number, ticket_id, _, _ in tickets:
        target = Status.IN_PROGRESS if status[ticket_id] == Status.OPEN else Status.OPEN
        calls.append(partial(desk.transition, agent, number, target))
    return calls


def runs_of(store: Store, rule_id: int | None = None) -> int:
    query = select(func.count()).select_from(t.AutomationRun)
    if rule_id is not None:
        query = query.where(t.AutomationRun.rule_id == rule_id)
    with store.read() as session:
        return session.scalar(query) or 0


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass(frozen=True, slots=True)
class Setup:
    rules: int
    matching: str  # "none" (no rules at all), "none match", "last matches"

    def definitions(self, kind: str) -> list[dict[str, Any]]:
        return rule_set(
            TRIGGER[kind], self.rules, self.matching == "last matches", f"matched-{kind}-{self.rules}"
        )


def one_round(
    desk: Desk,
    store: Store,
    kind: str,
    setup: Setup,
    pool: Pool,
    tickets: Sequence[tuple[str, int, str, str]],
    agent: Actor,
    warm_up: int,
) -> tuple[list[float], list[float], int]:
    """The setup's rules put in place, ``warm_up`` untimed events (the first compiles the new
    rule book), then one timed event per remaining ticket; ms each. Checks, not on time, that
    the last rule ran once per event when it matches, and that no rule ran otherwise."""
    rules = setup.definitions(kind)
    ids = replace_rules(store, rules)
    matching = setup.matching == "last matches"
    # Rule ids may be used again once the rules are gone (SQLite), so count from here.
    before, before_last = runs_of(store), runs_of(store, ids[-1]) if matching else 0
    calls = event_calls(desk, store, kind, pool, tickets, agent)
    for call in calls[:warm_up]:
        call()
    times, cpu = [], []
    with counted_statements(store) as statements:
        for call in calls[warm_up:]:
            began, began_cpu = time.perf_counter(), time.process_time()
            call()
            times.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
    ran, expected = runs_of(store) - before, len(calls) if matching else 0
    if ran != expected or (matching and runs_of(store, ids[-1]) - before_last != expected):
        raise AssertionError(f"{kind}, {setup}: {ran} rule runs, expected {expected}")
    return times, cpu, statements[0]


@contextmanager
def counted_statements(store: Store) -> Iterator[list[int]]:
    """How many statements the store's engine sends while the block runs (this process's
    threads only do the bench's work)."""
    count = [0]

    def listen(*_: Any) -> None:
        count[0] += 1

    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        yield count
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)


def measure_events(name: str, url: str, tmp: Path, args: argparse.Namespace) -> list[EventResult]:
    """Every setup of an event in each of ``--rounds`` rounds, in a shuffled order per round,
    so a busy moment of the machine falls on all of them alike."""
    store = Store(url)
    try:
        migrate.upgrade(store)
        settings = settings_for(tmp, url)
        desk = Desk(store, SystemClock(), settings)
        person = desk.add_person(Actor.console(), AGENT, role=Role.AGENT)
        agent = Actor(person.id, AGENT, Role.AGENT)
        per_round = -(-args.events // args.rounds)
        width = args.warm_up + per_round
        began = time.perf_counter()
        pool = open_pool(desk, args.rounds * width)
        print(
            f"  {name:<10} {len(pool.tickets)} tickets opened in {time.perf_counter() - began:.1f} s",
            file=sys.stderr,
        )
        setups = [Setup(0, "none")]
        setups += [Setup(n, "none match") for n in args.rules]
        setups += [Setup(n, "last matches") for n in args.rules]
        rng = random.Random(SEED)
        results: list[EventResult] = []
        for kind in args.kinds:
            times: dict[Setup, list[float]] = {setup: [] for setup in setups}
            cpu: dict[Setup, list[float]] = {setup: [] for setup in setups}
            statements = dict.fromkeys(setups, 0)
            began = time.perf_counter()
            for round_ in range(args.rounds):
                tickets = pool.tickets[round_ * width : (round_ + 1) * width]
                for setup in rng.sample(setups, len(setups)):
                    got, used, sent = one_round(desk, store, kind, setup, pool, tickets, agent, args.warm_up)
                    times[setup] += got
                    cpu[setup] += used
                    statements[setup] += sent
            for setup in setups:
                rules = setup.definitions(kind)
                alone = conditions_alone_ms(kind, rules) if rules else 0.0
                got = times[setup]
                result = EventResult(
                    name,
                    KINDS[kind],
                    setup.rules,
                    setup.matching,
                    statistics.median(got),
                    percentile(got, 0.95),
                    statistics.median(cpu[setup]),
                    statements[setup] / len(got),
                    alone,
                )
                results.append(result)
                print(
                    f"  {name:<10} {KINDS[kind]:<14} {setup.rules:>5} rules, {setup.matching:<12}:"
                    f" p50 {result.p50:.2f} ms, p95 {result.p95:.2f} ms ({len(got)} events)",
                    file=sys.stderr,
                )
            print(f"  {name:<10} {KINDS[kind]}: {time.perf_counter() - began:.1f} s", file=sys.stderr)
        return results
    finally:
        store.dispose()


def events_table(results: list[EventResult]) -> str:
    reference = {(r.store, r.event): r for r in results if r.matching == "none"}
    rows = []
    for r in results:
        ref = reference[(r.store, r.event)]
        rows.append(
            [
                r.store,
                r.event,
                f"{r.rules:,}",
                r.matching,
                f"{r.p50:.2f}",
                f"{r.p95:.2f}",
                "" if r is ref else f"{r.p50 - ref.p50:+.2f}",
                "" if r is ref else f"{r.p95 - ref.p95:+.2f}",
                f"{r.cpu:.2f}",
                "" if r is ref else f"{r.cpu - ref.cpu:+.2f}",
                f"{r.statements:.1f}",
                f"{r.alone:.3f}" if r.rules else "",
            ]
        )
    headers = [
        "store",
        "event",
        "rules",
        "which match",
        "p50 ms",
        "p95 ms",
        "added p50",
        "added p95",
        "cpu p50 ms",
        "added cpu",
        "statements",
        "conditions alone ms",
    ]
    return tabulate(
        rows,
        headers=headers,
        disable_numparse=True,
        colalign=("left", "left", "right", "left") + ("right",) * 8,
    )


# -- the sweep --------------------------------------------------------------------------

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
    "sla_paused_since",
    "sla_paused_seconds",
    "sla_status",
    "escalation_level",
    "last_customer_message_at",
    "status_changed_at",
    "assignment_changed_at",
    "requester_replied_at",
    "agent_replied_at",
    "first_response_at",
    "first_response_paused_seconds",
    "automation_check_at",
)
DATETIMES = frozenset(
    {
        "created_at",
        "updated_at",
        "sla_paused_since",
        "last_customer_message_at",
        "status_changed_at",
        "assignment_changed_at",
        "requester_replied_at",
        "agent_replied_at",
        "first_response_at",
        "automation_check_at",
    }
)
WAIT = timedelta(days=3)
TIME_RULE: dict[str, Any] = {
    "name": "Remind after 3 days waiting",
    "trigger": {"on": "time", "since": "status_changed", "after": "3d"},
    "conditions": {"all": [{"field": "status", "op": "is", "value": "waiting_customer"}]},
    "actions": [{"do": "add_tags", "tags": [REMINDED]}],
}


class FixedClock:
    def now(self) -> datetime:
        return NOW


@dataclass(frozen=True, slots=True)
class SweepResult:
    store: str
    open: int
    due: int
    checked: int
    fired: int
    ms: float


def sweep_rows(count: int, requester: int, policy: str, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """``count`` tickets waiting for the customer, ``CANDIDATE_SHARE`` of them for over 3 days
    (their next check left empty: the bench sets it per row), in ``COLUMNS`` order."""
    late = set(rng.sample(range(count), round(count * CANDIDATE_SHARE)))
    for i in range(count):
        if i in late:
            changed = NOW - timedelta(days=rng.uniform(3.1, 5.0))
            check = None
        else:
            changed = NOW - timedelta(days=rng.uniform(0.01, 2.9))
            check = changed + WAIT
        # Opened a little earlier; an agent answered and set it waiting for the customer.
        created = changed - timedelta(hours=rng.uniform(0.5, 3))
        yield (
            SUBJECT,
            "",
            "waiting_customer",
            "medium",
            "email",
            requester,
            created,
            changed,
            policy,
            changed,
            0.0,
            "paused",
            0,
            created,
            changed,
            created,
            created,
            changed,
            changed,
            0.0,
            check,
        )


def add_rows(conn: Connection, rows: Iterator[tuple[Any, ...]]) -> None:
    """``COPY`` on PostgreSQL; on SQLite the driver's ``executemany``, dates bound as the store's
    type binds them (``bench/sla_sweep.py`` says why)."""
    if conn.dialect.name == "postgresql":
        driver = conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY tickets ({', '.join(COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    ticket = t.Ticket.__table__
    processors = [
        ticket.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        if name in DATETIMES
        else None
        for name in COLUMNS
    ]
    sql = f"INSERT INTO tickets ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
    while chunk := list(islice(rows, CHUNK)):
        conn.exec_driver_sql(
            sql,
            [
                tuple(v if p is None or v is None else p(v) for p, v in zip(processors, row, strict=True))
                for row in chunk
            ],
        )


def set_due(store: Store, late: Sequence[tuple[int, datetime]], due: int) -> None:
    """The first ``due`` late tickets come due again; the others were swept before (no next
    check); no firings, no reminder tags."""
    ticket = t.table_of(t.Ticket)
    by_id = ticket.update().where(ticket.c.id == bindparam("b_id"))
    with store.transaction() as session:
        conn = session.connection()
        if late[due:]:
            conn.execute(by_id.values(automation_check_at=None), [{"b_id": i} for i, _ in late[due:]])
        if due:
            conn.execute(
                by_id.values(automation_check_at=bindparam("b_due")),
                [{"b_id": i, "b_due": changed + WAIT} for i, changed in late[:due]],
            )
        conn.execute(delete(t.AutomationFiring))
        reminded = select(t.Tag.id).where(t.Tag.name == REMINDED).scalar_subquery()
        conn.execute(delete(t.ticket_tags).where(t.ticket_tags.c.tag_id == reminded))


@contextmanager
def caught_due_select(store: Store) -> Iterator[list[tuple[str, Any]]]:
    caught: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if not caught and statement.startswith("SELECT") and "automation_check_at <=" in statement:
            caught.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        yield caught
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)


def timed_sweep(desk: Desk) -> tuple[float, int, int]:
    began = time.perf_counter()
    report = desk.automation_sweep(at=NOW, batch=BATCH)
    return (time.perf_counter() - began) * 1000, report.checked, report.fired


def measure_sweep(
    name: str, url: str, tmp: Path, args: argparse.Namespace, plans: list[str]
) -> list[SweepResult]:
    store = Store(url)
    try:
        migrate.upgrade(store)
        settings: Settings = settings_for(tmp, url)
        desk = Desk(store, FixedClock(), settings)
        requester = seed_people(store)
        policy = desk.rules_in_force().policies.for_ticket("medium", None).name
        began = time.perf_counter()
        with store.engine.begin() as conn:
            add_rows(conn, sweep_rows(args.open, requester, policy, random.Random(SEED)))
        if store.dialect == "postgresql":
            with store.engine.begin() as conn:
                conn.execute(text("ANALYZE tickets"))
        print(
            f"  {name:<10} {args.open:,} open: filled in {time.perf_counter() - began:.1f} s", file=sys.stderr
        )
        desk.add_automation(Actor.console(), TIME_RULE)
        with store.read() as session:
            found = session.execute(
                select(t.Ticket.id, t.Ticket.status_changed_at)
                .where(t.Ticket.status_changed_at < NOW - WAIT)
                .order_by(t.Ticket.id)
            )
            late = [(ticket_id, changed) for ticket_id, changed in found if changed is not None]
        random.Random(SEED).shuffle(late)
        results: list[SweepResult] = []

        set_due(store, late, 0)
        with caught_due_select(store) as caught:
            timed_sweep(desk)  # warm-up: compiles the rule book
        plans.append(f"{name} {args.open:,}: {reading_tickets(plan_steps(store, *caught[0]))}")
        floor = [timed_sweep(desk) for _ in range(FLOOR_RUNS)]
        results.append(SweepResult(name, args.open, 0, 0, 0, statistics.median(ms for ms, _, _ in floor)))
        warm = False  # one warm-up firing sweep, before the first row (the smallest)
        for percent in sorted(args.due):
            due = min(round(args.open * percent / 100), len(late))
            runs = []
            for _ in range(args.sweep_runs + (0 if warm else 1)):
                set_due(store, late, due)
                ms, checked, fired = timed_sweep(desk)
                if checked != due or fired != due:
                    raise AssertionError(f"{due} due, but the sweep checked {checked} and fired {fired}")
                if warm:
                    runs.append(ms)
                warm = True
            results.append(SweepResult(name, args.open, due, due, due, statistics.median(runs)))
            ms = results[-1].ms
            print(f"  {name:<10} {due:>7,} due: sweep {ms:.0f} ms ({ms / due:.2f} ms / due)", file=sys.stderr)
        return results
    finally:
        store.dispose()


def sweep_table(results: list[SweepResult]) -> str:
    rows = [
        [
            r.store,
            f"{r.open:,}",
            f"{r.due:,}" + (" (floor)" if not r.due else f" ({100 * r.due / r.open:g} %)"),
            f"{r.checked:,}",
            f"{r.fired:,}",
            f"{r.ms:.1f}",
            f"{r.ms / r.due:.2f}" if r.due else "",
        ]
        for r in results
    ]
    headers = ["store", "open tickets", "due tickets", "checked", "fired", "sweep ms", "ms / due"]
    return tabulate(rows, headers=headers, disable_numparse=True, colalign=("left",) + ("right",) * 6)


# -- running ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--stores",
        default="sqlite,postgresql",
        help="comma-separated: sqlite, postgresql (default both; PostgreSQL is skipped if unreachable)",
    )
    parser.add_argument(
        "--parts", default="events,sweep", help="comma-separated: events, sweep (default both)"
    )
    parser.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help="comma-separated events: status (a status change), reply (an email reply), new (a new email)",
    )
    parser.add_argument(
        "--rules",
        default=",".join(str(n) for n in RULE_COUNTS),
        help="comma-separated rule counts (default 10,100,1000)",
    )
    parser.add_argument("--events", type=int, help=f"timed events per row (default {EVENTS})")
    parser.add_argument(
        "--rounds", type=int, help=f"rounds each row's events are split into, interleaved (default {ROUNDS})"
    )
    parser.add_argument(
        "--warm-up", type=int, help=f"untimed events at the start of each round of a row (default {WARM_UP})"
    )
    parser.add_argument("--open", type=int, help=f"open tickets for the sweep (default {OPEN:,})")
    parser.add_argument(
        "--due",
        default=",".join(f"{p:g}" for p in DUE_PERCENT),
        help="comma-separated per cent of the open tickets due, at most 1 (default 0.1,1)",
    )
    parser.add_argument(
        "--sweep-runs", type=int, default=SWEEP_RUNS, help=f"sweeps per row (default {SWEEP_RUNS})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes: 50 events per row in 2 rounds, 10,000 open tickets",
    )
    args = parser.parse_args(argv)
    split = [name.strip() for name in args.stores.split(",") if name.strip()]
    if not split or set(split) - {"sqlite", "postgresql"}:
        parser.error(f"--stores takes sqlite and/or postgresql, not {args.stores!r}")
    args.stores = split
    args.parts = [name.strip() for name in args.parts.split(",") if name.strip()]
    if not args.parts or set(args.parts) - {"events", "sweep"}:
        parser.error("--parts takes events and/or sweep")
    args.kinds = [name.strip() for name in args.kinds.split(",") if name.strip()]
    if not args.kinds or set(args.kinds) - set(KINDS):
        parser.error(f"--kinds takes {', '.join(KINDS)}")
    try:
        args.rules = [int(n.replace("_", "")) for n in args.rules.split(",") if n.strip()]
        args.due = [float(n) for n in args.due.split(",") if n.strip()]
    except ValueError:
        parser.error("--rules takes whole numbers and --due numbers, e.g. --rules 10,100 --due 0.1,1")
    if not args.rules or min(args.rules) < 1 or max(args.rules) > 5_000:
        parser.error("--rules needs counts from 1 to 5000 (a desk keeps at most 5000)")
    if not args.due or min(args.due) <= 0 or max(args.due) > CANDIDATE_SHARE * 100:
        parser.error("--due needs per cents above 0 and at most 1")
    args.events = args.events or (50 if args.quick else EVENTS)
    args.rounds = args.rounds or (2 if args.quick else ROUNDS)
    args.warm_up = args.warm_up if args.warm_up is not None else (3 if args.quick else WARM_UP)
    args.open = args.open or (10_000 if args.quick else OPEN)
    if min(args.events, args.rounds, args.warm_up, args.sweep_runs) < 1:
        parser.error("--events, --rounds, --warm-up and --sweep-runs must be at least 1")
    if round(args.open * min(args.due) / 100) < 1:
        parser.error("--open is too small: no ticket would be due")
    return args


def command() -> str:
    python = (
        os.path.relpath(sys.executable)
        if not os.path.relpath(sys.executable).startswith("..")
        else sys.executable
    )
    return shlex.join([python, *sys.argv])


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    events: list[EventResult] = []
    sweeps: list[SweepResult] = []
    plans: list[str] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="sbbench-") as folder:
        tmp = Path(folder)
        if "sqlite" in args.stores:
            if "events" in args.parts:
                events += measure_events("sqlite", f"sqlite:///{tmp / 'events.db'}", tmp, args)
            if "sweep" in args.parts:
                sweeps += measure_sweep("sqlite", f"sqlite:///{tmp / 'sweep.db'}", tmp, args, plans)
        if "postgresql" in args.stores:
            if "events" in args.parts:
                with postgres_schema(notes) as url:
                    if url is not None:
                        events += measure_events("postgresql", url, tmp, args)
            if "sweep" in args.parts:
                with postgres_schema(notes) as url:
                    if url is not None:
                        sweeps += measure_sweep("postgresql", url, tmp, args, plans)
    if events:
        print("Cost per event of evaluating automation rules (ms, one thread, system clock)")
        print(events_table(events))
        print()
    if sweeps:
        print("Time-based rules' sweep (fixed clock; all the due tickets fire)")
        print(sweep_table(sweeps))
        print()
        print("Steps reading tickets in the plan of the sweep's select of due tickets:")
        for plan in plans:
            print(f"  {plan}")
    for note in dict.fromkeys(notes):
        print(note)
    print(f"command: {command()}")


if __name__ == "__main__":
    main()
