"""``supportbot serve`` against a farm of hostile mail robots, for FARM_SECONDS (default 40).

The relay setting points at the farm (:mod:`tests.e2e.hostile_farm`): a mailer-daemon that
bounces everything, an RFC 3834 responder, Outlook's out-of-office, another help desk that
acknowledges everything with its own tag, and our own agent's out-of-office. People write
to the desk meanwhile, an agent answers them by mail, tickets are resolved, and a person's
reply through a mailing list reopens one. What must hold:

- our mail to each robot address stays within ``[email] ack_limit`` acknowledgements plus
  the notifications the test's own acts legitimately cause (an answer, a resolution);
- no robot reopens or otherwise moves a ticket;
- no robot's words reach anyone but the robot itself and our staff;
- the loop is bounded: the farm goes quiet while ``serve`` keeps running.

FARM_SECONDS=300 runs it for five minutes, with people writing all the while.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import aliased

from bot.store import tables as t
from tests.e2e.hostile_farm import BOUNCER, DESK, MARK, OUTLOOK, PEOPLE, RESPONDER, STAFF, Farm
from tests.e2e.process import SUPPORTBOT, clean_environment, healthy, supportbot
from tests.ports import free_port
from tests.waiting import wait_until

FARM_SECONDS = float(os.environ.get("FARM_SECONDS", "40"))
# The last part of the run sends nothing new: the farm must fall quiet within it.
SETTLE_SECONDS = 12.0
QUIET_SECONDS = 4.0
# A person whose mailbox answers with a robot writes a new request this often.
NEW_REQUEST_EVERY = 4.0
ACK_LIMIT = 5
SUPPORT = "support@localhost"

AGENT = f"agent@{STAFF}"
GONE = f"gone@{BOUNCER}"
CAROL = f"carol@{RESPONDER}"
DAVE = f"dave@{OUTLOOK}"
ERIN = f"erin@{PEOPLE}"
HELP_DESK = f"help@{DESK}"  # only ever writes as a robot
VENDOR = f"service@{DESK}"  # a person at the vendor wrote from it once: its robot is no robot to us
ROBOTS = (GONE, CAROL, DAVE, HELP_DESK, VENDOR, AGENT)
LIST_HEADERS = (
    "Precedence: list\r\nList-Id: <customers.lists.example.com>\r\n"
    "List-Unsubscribe: <mailto:leave@lists.example.com>\r\nDelivered-To: support@localhost\r\n"
)


@dataclass
class Script:
    """What the people did, to count the notifications they legitimately caused."""

    seeds: dict[str, str] = field(default_factory=dict)  # requester -> first ticket
    opened: Counter[str] = field(default_factory=Counter)  # requester -> tickets opened by a person
    answered: Counter[str] = field(default_factory=Counter)  # recipient -> agent answers sent them
    resolved: Counter[str] = field(default_factory=Counter)  # requester -> resolutions
    requests: int = 0
    erin_replied: bool = False


def mail(sender: str, subject: str, body: str, *, to: str = SUPPORT, headers: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{time.monotonic_ns()}@{PEOPLE}>\r\n{headers}\r\n{body}\r\n"
    ).encode()


def config(tmp_path: Path, farm: Farm) -> Path:
    path = tmp_path / "supportbot.toml"
    path.write_text(
        f"""
[email]
from_address = "{SUPPORT}"
reply_secret = "hostile-farm-secret"
ack_limit = {ACK_LIMIT}
ack_window_minutes = 60

[relay]
host = "127.0.0.1"
port = {farm.port}
starttls = false
timeout_seconds = 10

[outbox]
interval_seconds = 1
backoff_seconds = 1

[[mailboxes]]
address = "{SUPPORT}"
team = "Ops"
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def environment(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    data_dir = tmp_path / "data"
    env = clean_environment() | {
        "SUPPORTBOT_DATA_DIR": str(data_dir),
        "SUPPORTBOT_HTTP_PORT": str(free_port()),
        "SUPPORTBOT_SMTP_PORT": str(free_port()),
    }
    if request.param == "postgresql":
        env["SUPPORTBOT_DATABASE_URL"] = request.getfixturevalue("empty_schema")
    else:
        data_dir.mkdir()
        env["SUPPORTBOT_DATABASE_URL"] = f"sqlite:///{data_dir / 'supportbot.db'}"
    return env


@pytest.fixture
def farm(environment: dict[str, str]) -> Iterator[Farm]:
    robots = Farm(int(environment["SUPPORTBOT_SMTP_PORT"]))
    robots.start()
    yield robots
    robots.stop()


class Serve:
    def __init__(self, env: dict[str, str], settings: Path, log: Path) -> None:
        self.env, self.settings, self.log = env, settings, log
        self.process: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> str:
        done = supportbot(self.env, "--config", str(self.settings), *args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self) -> None:
        with self.log.open("wb") as handle:
            self.process = subprocess.Popen(
                [str(SUPPORTBOT), "--config", str(self.settings), "serve"],
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{self.env['SUPPORTBOT_HTTP_PORT']}"
        wait_until(
            lambda: self.running() and healthy(url), seconds=30, what="serve healthy", explain=self.output
        )

    def running(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.output()
        return True

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-6000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def serve(environment: dict[str, str], farm: Farm, tmp_path: Path) -> Iterator[Serve]:
    server = Serve(environment, config(tmp_path, farm), tmp_path / "serve.log")
    server.cli("db", "upgrade")
    server.cli("teams", "add", "Ops")
    server.cli("people", "add", "--email", AGENT, "--name", "Ann Agent", "--role", "agent", "--team", "Ops")
    server.start()
    yield server
    server.stop()


def open_request(farm: Farm, script: Script, sender: str, subject: str, *, headers: str = "") -> str:
    code, text = farm.mail(
        sender, SUPPORT, mail(sender, subject, f"{subject}. Please help.", headers=headers)
    )
    assert code == 250, text
    script.opened[sender] += 1
    script.requests += 1
    return text.split()[-1]


def answer_as_the_agent(
    farm: Farm, script: Script, number: str, requester: str, followers: tuple[str, ...]
) -> bool:
    """The agent, not their out-of-office, answers the ticket's notification from the same mailbox."""
    notice = next(
        (r for r in farm.inbox(AGENT) if r.ticket == number and "assigned to you" in r.text),
        None,
    )
    if notice is None:
        return False
    reply_to = str(notice.message["Reply-To"].addresses[0].addr_spec)
    headers = f"In-Reply-To: {notice.message['Message-ID']}\r\n"
    raw = mail(
        AGENT,
        f"Re: {notice.message['Subject']}",
        f"Please restart it ({number}).",
        to=reply_to,
        headers=headers,
    )
    code, text = farm.mail(AGENT, reply_to, raw)
    assert (code, text) == (250, f"2.0.0 {number}")
    for person in (requester, *followers):
        script.answered[person] += 1
    return True


def erin_replies_through_a_list(farm: Farm, script: Script) -> bool:
    """A person's reply, delivered by a mailing list, to the notice that her ticket was resolved."""
    number = script.seeds[ERIN]
    notice = next((r for r in farm.inbox(ERIN) if r.ticket == number and "resolved" in r.text.lower()), None)
    if notice is None:
        return False
    reply_to = str(notice.message["Reply-To"].addresses[0].addr_spec)
    headers = f"In-Reply-To: {notice.message['Message-ID']}\r\n{LIST_HEADERS}"
    raw = mail(ERIN, f"Re: {notice.message['Subject']}", "It is broken again.", to=reply_to, headers=headers)
    assert farm.mail(ERIN, reply_to, raw) == (250, f"2.0.0 {number}")
    script.erin_replied = True
    return True


def run(farm: Farm, serve: Serve) -> Script:
    """People write, the agent answers, tickets are resolved; the robots answer all of it."""
    script = Script()
    started = time.monotonic()
    script.seeds[GONE] = open_request(farm, script, GONE, "Printer on fire")
    script.seeds[CAROL] = open_request(farm, script, CAROL, "VPN down")
    script.seeds[DAVE] = open_request(farm, script, DAVE, "Laptop broken")
    script.seeds[ERIN] = open_request(farm, script, ERIN, "Invoice question", headers=f"Cc: {HELP_DESK}\r\n")
    script.seeds[VENDOR] = open_request(farm, script, VENDOR, "Order 4711 failed")
    followers = {ERIN: (HELP_DESK,)}
    unanswered = dict(script.seeds)
    resolved = False
    requesters = (GONE, CAROL, DAVE)
    next_request = started + NEW_REQUEST_EVERY
    while time.monotonic() < started + FARM_SECONDS - SETTLE_SECONDS:
        serve.running()
        for requester, number in list(unanswered.items()):
            if answer_as_the_agent(farm, script, number, requester, followers.get(requester, ())):
                del unanswered[requester]
        if not unanswered and not resolved:
            for requester in (CAROL, DAVE, ERIN):
                serve.cli("tickets", "status", script.seeds[requester], "resolved", "--as", AGENT)
                script.resolved[requester] += 1
            resolved = True
        if resolved and not script.erin_replied:
            erin_replies_through_a_list(farm, script)
        if time.monotonic() >= next_request:
            requester = requesters[script.requests % len(requesters)]
            open_request(farm, script, requester, f"Another problem, number {script.requests}")
            next_request += NEW_REQUEST_EVERY
        time.sleep(0.2)
    assert not unanswered, f"the agent never got the notice of {unanswered}:\n{serve.output()}"
    assert resolved and script.erin_replied, serve.output()
    wait_until(
        lambda: serve.running() and farm.quiet_for(QUIET_SECONDS),
        seconds=SETTLE_SECONDS + 30,
        what="the farm falling quiet",
        interval=0.2,
        explain=serve.output,
    )
    # ... and staying quiet to the end of the run: no robot's answer starts it again.
    quiet_since = farm.last_activity
    while time.monotonic() < started + FARM_SECONDS:
        serve.running()
        time.sleep(0.2)
    assert farm.last_activity == quiet_since, "the farm woke up again"
    return script


@pytest.mark.slow
def test_a_farm_of_hostile_robots_gets_bounded_mail_moves_no_ticket_and_reaches_no_requester(farm, serve):
    script = run(farm, serve)
    serve.running()  # the farm fell quiet while serve kept running
    serve.stop()
    received, deliveries = farm.snapshot()
    db = recorded(serve.env["SUPPORTBOT_DATABASE_URL"])

    # Every robot's answer was taken (250), none refused or left to retry.
    assert deliveries and all(d.code == 250 for d in deliveries), [
        (d.reply.robot, d.code, d.text) for d in deliveries if d.code != 250
    ]
    assert {d.reply.robot for d in deliveries} == {
        "bounce",
        "rfc3834",
        "outlook",
        "desk",
        "agent out-of-office",
    }
    # Nothing is left unsent: the quiet is the loop's end, not a stuck outbox.
    assert [n for n in db.notifications if n.status not in ("sent", "bounced")] == []

    # Our mail to each robot: at most ack_limit acknowledgements, plus what people's acts caused.
    to = {robot: Counter(n.template for n in db.notifications if n.recipient == robot) for robot in ROBOTS}
    for robot in (GONE, CAROL, DAVE):
        assert to[robot] == Counter({"ticket_opened": min(script.opened[robot], ACK_LIMIT)}) + Counter(
            {"agent_replied": script.answered[robot], "ticket_resolved": script.resolved[robot]}
        ), robot
    assert to[HELP_DESK] == Counter({"agent_replied": script.answered[HELP_DESK]})
    # The vendor's desk, taken for the person who once wrote from its address: its threaded
    # acknowledgements land on that ticket; whatever opens a ticket of its own is acknowledged
    # at most ack_limit times, which is what ends the loop.
    assert to[VENDOR]["agent_replied"] == script.answered[VENDOR]
    assert 1 <= to[VENDOR]["ticket_opened"] <= ACK_LIMIT
    assert set(to[VENDOR]) <= {"ticket_opened", "agent_replied"}
    # Erin's reply through her list, and the vendor's threaded acknowledgements (its address
    # once wrote as a person, so they count as its words), each tell the agent once.
    assert set(to[AGENT]) == {"new_ticket", "customer_replied"}
    assert to[AGENT]["new_ticket"] == len(db.tickets)
    assert 1 <= to[AGENT]["customer_replied"] <= 1 + sum(c.author == VENDOR for c in db.comments)
    mailed = Counter(r.rcpt for r in received)
    for robot in ROBOTS:
        assert mailed[robot] == sum(to[robot].values()), robot

    # No robot moved a ticket: every status change is the agent's or a person's reply.
    movers = Counter(db.status_movers)
    assert set(movers) <= {AGENT, ERIN}, movers
    assert movers[ERIN] == 1  # her reply through the list reopened her ticket
    assert db.tickets[script.seeds[CAROL]] == db.tickets[script.seeds[DAVE]] == "resolved"
    assert db.tickets[script.seeds[ERIN]] == "open"

    # Robots' comments are kept, and public only on the robot's own ticket. The vendor's
    # desk alone is taken for the person who once wrote from its address.
    robot_comments = [c for c in db.comments if MARK in c.body]
    assert robot_comments and all(c.auto_submitted is (c.author != VENDOR) for c in robot_comments)
    assert not [c for c in robot_comments if c.public and c.author != c.requester]
    assert not [c for c in db.comments if MARK not in c.body and c.auto_submitted and c.author == ERIN]

    # No robot's words reached anyone but that robot itself and our staff.
    leaks = [
        (r.rcpt, marks)
        for r in received
        if r.rcpt != AGENT
        for marks in [re.findall(rf"{MARK} (\S+) \d+", r.text)]
        if any(robot != r.rcpt for robot in marks)
    ]
    assert leaks == []
    assert [
        n.recipient for n in db.notifications if MARK in json.dumps(n.context) and n.recipient != AGENT
    ] == []


@dataclass(frozen=True, slots=True)
class Comment:
    body: str
    public: bool
    auto_submitted: bool
    author: str | None
    requester: str


@dataclass(frozen=True, slots=True)
class Recorded:
    """The server's database, read after it stopped."""

    notifications: list[Any]  # recipient, template, status, context
    tickets: dict[str, str]  # number -> status
    status_movers: list[str]  # the actor of each status change
    comments: list[Comment]


def recorded(url: str) -> Recorded:
    engine = create_engine(url)
    author, requester = aliased(t.Person), aliased(t.Person)
    n = t.Notification
    try:
        with engine.connect() as conn:
            return Recorded(
                notifications=list(conn.execute(select(n.recipient, n.template, n.status, n.context))),
                tickets={f"SUP-{i}": s for i, s in conn.execute(select(t.Ticket.id, t.Ticket.status))},
                status_movers=list(
                    conn.scalars(select(t.Event.actor).where(t.Event.kind == "status_changed"))
                ),
                comments=[
                    Comment(*row)
                    for row in conn.execute(
                        select(
                            t.Comment.body,
                            t.Comment.public,
                            t.Comment.auto_submitted,
                            author.email,
                            requester.email,
                        )
                        .join(t.Ticket, t.Ticket.id == t.Comment.ticket_id)
                        .outerjoin(author, author.id == t.Comment.author_id)
                        .join(requester, requester.id == t.Ticket.requester_id)
                    )
                ],
            )
    finally:
        engine.dispose()
