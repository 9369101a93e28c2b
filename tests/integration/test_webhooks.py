"""Outgoing webhooks: queued with the change, POSTed signed to a real HTTP receiver, retried, logged."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import event, select

from bot.config.settings import load
from bot.desk.facade import Desk
from bot.errors import Forbidden, UserError
from bot.model import Priority, Status
from bot.notify.outbox import Dispatcher
from bot.store import tables as t
from bot.tickets.classify import TicketChanges
from channels.webhooks.sender import WebhookSender
from tests.factories import make_inbound, make_ticket
from tests.fakes import RecordingSender
from tests.integration.cli.support import Cli

SECRET = "s3cret-for-signing-webhooks"


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def payload(self) -> Any:
        return json.loads(self.body)

    @property
    def signed(self) -> bool:
        expected = "sha256=" + hmac.new(SECRET.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("X-Supportbot-Signature", ""), expected)


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1: answers with ``script`` in turn (then 200), records every POST."""

    script: list[int] = field(default_factory=list)
    got: list[Delivery] = field(default_factory=list)
    url: str = ""

    @property
    def accepted(self) -> list[Delivery]:
        return [d for d in self.got if 200 <= d.status < 300 and d.signed]


@pytest.fixture
def environ(environ: dict[str, str]) -> dict[str, str]:
    """The receivers here are stand-ins on loopback: private targets are allowed in this module,
    except where a test builds a desk of its own with the setting off."""
    return {**environ, "SUPPORTBOT_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES": "true"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                status = state.script.pop(0) if state.script else 200
                state.got.append(Delivery(dict(self.headers.items()), body, status))
            self.send_response(status)
            if status == 503:
                self.send_header("Retry-After", "120")
            reply = b"busy" if status >= 500 else b"ok"
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/supportbot"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def dispatcher(desk, store, clock, settings) -> Dispatcher:
    sender = WebhookSender(desk, clock, allow_private=settings.webhooks.allow_private_addresses)
    senders = {"webhook": sender, "email": RecordingSender()}
    return Dispatcher(store, clock, senders, settings.outbox)


def _webhook_rows(store) -> list[tuple[str, str, str | None]]:
    """(subscription, event, ticket number) of every queued webhook."""
    with store.read() as session:
        rows = session.scalars(
            select(t.Notification).where(t.Notification.channel == "webhook").order_by(t.Notification.id)
        )
        return [(row.recipient, row.template, row.context["ticket"]["number"]) for row in rows]


def test_delivery_is_signed_json_with_a_delivery_id(desk, admin, receiver, dispatcher):
    sub = desk.add_webhook(admin, receiver.url, ["ticket.created"], SECRET)
    number = make_ticket(desk, subject="Printer on fire")
    assert dispatcher.run_until_idle().dead == 0
    [delivery] = receiver.accepted
    payload = delivery.payload
    assert delivery.headers["Content-Type"] == "application/json"
    assert delivery.headers["X-Supportbot-Event"] == "ticket.created"
    assert delivery.headers["X-Supportbot-Delivery"] == payload["id"]
    assert payload["event"] == "ticket.created" and payload["created_at"].startswith("2026-03-02T09:00")
    ticket = payload["ticket"]
    assert (ticket["number"], ticket["subject"], ticket["status"]) == (number, "Printer on fire", "open")
    assert ticket["requester"]["email"] == "customer@example.com"
    assert set(ticket) >= {"priority", "category", "assignee", "sla_status"}
    assert payload["comment"]["body"] == "The printer on floor 3 is on fire again."
    assert b": " not in delivery.body and b", " not in delivery.body, "compact JSON"
    [logged] = desk.webhook_deliveries(admin, sub.id)
    assert (logged.status, logged.attempts, logged.delivery) == ("sent", 1, payload["id"])
    assert SECRET not in repr(desk.list_webhooks(admin)), "the secret is never shown again"


def test_receiver_failing_twice_gets_one_delivery_after_three_attempts(
    desk, admin, receiver, dispatcher, clock, settings
):
    receiver.script = [500, 503]
    sub = desk.add_webhook(admin, receiver.url, ["ticket.created"], SECRET)
    desk.receive(make_inbound())
    wait = settings.outbox.backoff_max_seconds

    assert dispatcher.run_once().retried == 1
    [logged] = desk.webhook_deliveries(admin, sub.id)
    assert (logged.status, logged.attempts) == ("pending", 1) and "HTTP 500" in logged.last_error
    clock.advance(seconds=wait)
    assert dispatcher.run_once().retried == 1
    [logged] = desk.webhook_deliveries(admin, sub.id)
    assert "HTTP 503" in logged.last_error
    assert (logged.next_attempt_at - clock.now()).total_seconds() >= 120, "Retry-After is honoured"
    clock.advance(seconds=wait)
    assert dispatcher.run_once().sent == 1
    clock.advance(seconds=wait)
    assert dispatcher.run_until_idle().handled == 0

    assert len(receiver.got) == 3 and all(d.signed for d in receiver.got)
    assert len({d.headers["X-Supportbot-Delivery"] for d in receiver.got}) == 1, "one delivery, retried"
    [accepted] = receiver.accepted
    assert accepted.payload["event"] == "ticket.created"
    [logged] = desk.webhook_deliveries(admin, sub.id)
    assert (logged.status, logged.attempts, logged.last_error) == ("sent", 3, None)
    assert logged.sent_at == clock.now() - timedelta(seconds=wait)


@pytest.mark.parametrize("status", [404, 410])
def test_a_receiver_that_is_gone_parks_the_delivery_at_once(desk, admin, receiver, dispatcher, status):
    receiver.script = [status]
    sub = desk.add_webhook(admin, receiver.url, ["ticket.created"], SECRET)
    desk.receive(make_inbound())
    assert dispatcher.run_once().dead == 1
    [logged] = desk.webhook_deliveries(admin, sub.id)
    assert (logged.status, logged.attempts) == ("dead", 1)
    assert f"HTTP {status}" in logged.last_error
    assert len(receiver.got) == 1


def test_a_removed_subscription_delivers_nothing(desk, admin, receiver, dispatcher):
    sub = desk.add_webhook(admin, receiver.url, ["ticket.created"], SECRET)
    desk.receive(make_inbound())
    desk.remove_webhook(admin, sub.id)
    assert dispatcher.run_once().dead == 1
    [logged] = desk.webhook_deliveries(admin, sub.id)
    assert "removed" in logged.last_error and receiver.got == []


def test_filters_on_priority_and_category_prefix(desk, admin, agent, store):
    for path in ("Network", "Network/VPN", "Networking"):
        desk.add_category(admin, path)
    urgent = desk.add_webhook(
        admin, "https://hooks.example.com/a", ["ticket.created"], SECRET, priorities=["urgent"]
    )
    network = desk.add_webhook(
        admin, "https://hooks.example.com/b", ["ticket.created"], SECRET, category="network"
    )
    desk.receive(make_inbound(subject="VPN down", priority="urgent", category="Network/VPN"))
    desk.receive(make_inbound(subject="Wifi slow", priority="low", category="Network"))
    desk.receive(make_inbound(subject="Switch", priority="urgent", category="Networking"))
    desk.receive(make_inbound(subject="Printer", priority="low"))
    assert sorted(_webhook_rows(store)) == sorted(
        [
            (str(urgent.id), "ticket.created", "SUP-1"),
            (str(network.id), "ticket.created", "SUP-1"),
            (str(network.id), "ticket.created", "SUP-2"),
            (str(urgent.id), "ticket.created", "SUP-3"),
        ]
    )


def test_each_subscription_gets_only_its_events(desk, admin, agent, store):
    desk.add_category(admin, "Billing")
    created = desk.add_webhook(admin, "https://h.example.com/1", ["ticket.created"], SECRET)
    updates = desk.add_webhook(admin, "https://h.example.com/2", ["ticket.updated"], SECRET)
    status = desk.add_webhook(admin, "https://h.example.com/3", ["ticket.status_changed"], SECRET)
    escalated = desk.add_webhook(admin, "https://h.example.com/4", ["ticket.escalated"], SECRET)
    comments = desk.add_webhook(admin, "https://h.example.com/5", ["comment.added"], SECRET)
    number = make_ticket(desk)
    desk.set_priority(agent, number, Priority.HIGH)
    desk.set_category(agent, number, "Billing")
    desk.assign(agent, number, "agent@support.test")
    desk.transition(agent, number, Status.IN_PROGRESS)
    desk.escalate(agent, number, "VIP customer")
    desk.comment(agent, number, "On it.")
    got: dict[str, list[str]] = {}
    for sub, name, ticket in _webhook_rows(store):
        assert ticket == number
        got.setdefault(sub, []).append(name)
    assert got == {
        str(created.id): ["ticket.created"],
        str(updates.id): ["ticket.updated"] * 4,  # priority, category, assignee, status
        str(status.id): ["ticket.status_changed"],
        str(escalated.id): ["ticket.escalated"],
        str(comments.id): ["comment.added"],
    }
    with store.read() as session:
        row = session.scalar(select(t.Notification).where(t.Notification.template == "ticket.status_changed"))
        assert row.context["previous_status"] == "open" and row.context["ticket"]["status"] == "in_progress"
        row = session.scalar(select(t.Notification).where(t.Notification.template == "ticket.escalated"))
        assert row.context["escalation"]["reason"] == "VIP customer"


def test_comment_added_payload_and_internal_notes_only_when_asked(desk, admin, agent, receiver, dispatcher):
    public_only = desk.add_webhook(admin, receiver.url, ["comment.added"], SECRET)
    everything = desk.add_webhook(admin, receiver.url, ["comment.added"], SECRET, include_internal=True)
    number = make_ticket(desk)
    desk.comment(agent, number, "We are sending a technician.")
    desk.comment(agent, number, "Customer is on the VIP list.", public=False)
    dispatcher.run_until_idle()
    seen = sorted(
        (d.payload["comment"]["body"], d.headers["X-Supportbot-Delivery"]) for d in receiver.accepted
    )
    assert [body for body, _ in seen] == [
        "Customer is on the VIP list.",
        "We are sending a technician.",
        "We are sending a technician.",
    ]
    assert len({delivery for _, delivery in seen}) == 3
    public = next(d.payload for d in receiver.accepted if d.payload["comment"]["public"])
    assert public["event"] == "comment.added" and public["ticket"]["number"] == number
    assert public["comment"]["author"] == {"name": "Ann Agent", "email": "agent@support.test"}
    assert {len(desk.webhook_deliveries(admin, s.id)) for s in (public_only, everything)} == {1, 2}


def test_nothing_is_queued_without_subscriptions_and_they_are_read_with_the_rules(desk, admin, agent, store):
    """Subscriptions are compiled with the rules: read again only when the rules' version moves."""
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "webhook_subscriptions" in statement:
            statements.append(statement)

    desk.add_category(admin, "Billing")
    number = make_ticket(desk)
    event.listen(store.write_engine, "before_cursor_execute", count)
    try:
        desk.update(agent, number, TicketChanges(priority=Priority.HIGH, category="Billing"))
    finally:
        event.remove(store.write_engine, "before_cursor_execute", count)
    desk.comment(agent, number, "On it.")
    desk.transition(agent, number, Status.RESOLVED)
    assert _webhook_rows(store) == []
    assert statements == [], "read when the rules were compiled, not per change"


def test_only_admins_manage_webhooks(desk, agent):
    with pytest.raises(Forbidden):
        desk.add_webhook(agent, "https://h.example.com", ["ticket.created"], SECRET)
    with pytest.raises(Forbidden):
        desk.list_webhooks(agent)


def test_cli_adds_from_an_environment_secret_and_shows_the_delivery_log(environ, receiver):
    cli = Cli(environ)
    receiver.script = [503]
    out = cli.ok(
        "webhooks",
        "add",
        receiver.url,
        "--event",
        "ticket.created",
        "--secret-env",
        "HOOK_SECRET",
        env={"HOOK_SECRET": SECRET},
    )
    assert out.startswith("webhook 1:") and SECRET not in out
    assert "HOOK_SECRET" in cli.fails(
        "webhooks", "add", receiver.url, "--event", "ticket.created", "--secret-env", "HOOK_SECRET"
    )
    assert SECRET not in cli.ok("webhooks", "list") and receiver.url in cli.ok("webhooks", "list")
    cli.ok("tickets", "create", "--subject", "Hello", "--requester", "c@example.com")
    cli.ok("outbox", "dispatch")
    [row] = cli.json("webhooks", "deliveries", "--subscription", "1")
    assert (row["status"], row["attempts"], row["event"]) == ("pending", 1, "ticket.created")
    assert "HTTP 503" in row["last_error"]
    assert "HTTP 503" in cli.ok("webhooks", "deliveries")
    assert receiver.got[0].signed
    cli.ok("webhooks", "remove", "1")
    assert cli.json("webhooks", "list") == []


# -- targets inside the network ---------------------------------------------------------------


@pytest.fixture
def strict(environ, store, clock) -> Desk:
    """A desk with the shipped default: webhooks reach only addresses on the internet."""
    settings = load(None, {**environ, "SUPPORTBOT_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES": "false"})
    assert settings.webhooks.allow_private_addresses is False
    return Desk(store, clock, settings)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://10.1.2.3/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://192.168.0.10/hooks",
        "http://localhost:9000/hooks",
        "http://[::1]/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://0.0.0.0/hooks",
    ],
)
def test_a_webhook_url_inside_the_network_is_refused_unless_allowed(strict, desk, admin, url):
    with pytest.raises(UserError, match="webhooks.allow_private_addresses"):
        strict.add_webhook(admin, url, ["ticket.created"], SECRET)
    assert strict.list_webhooks(admin) == []
    assert desk.add_webhook(admin, url, ["ticket.created"], SECRET).url == url, "allowed by the setting"


def _strict_dispatcher(strict, store, clock, resolver) -> Dispatcher:
    sender = WebhookSender(strict, clock, allow_private=False, resolver=resolver)
    return Dispatcher(store, clock, {"webhook": sender, "email": RecordingSender()}, strict.settings.outbox)


@pytest.mark.parametrize(
    "answer",
    [["127.0.0.1"], ["10.0.0.7"], ["169.254.169.254"], ["93.184.216.34", "127.0.0.1"], ["::1"]],
)
def test_a_name_that_resolves_inside_the_network_is_never_called(
    strict, admin, receiver, store, clock, answer
):
    """The name passes when subscribed (it is a name); each connection resolves it, checks every
    address, and opens nothing when one is inside: no request reaches the loopback receiver."""
    port = receiver.url.split(":")[2].split("/")[0]
    sub = strict.add_webhook(admin, f"http://hooks.example.com:{port}/hooks", ["ticket.created"], SECRET)
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return answer

    strict.receive(make_inbound())
    assert _strict_dispatcher(strict, store, clock, resolver).run_once().dead == 1
    [logged] = strict.webhook_deliveries(admin, sub.id)
    assert (
        "not on the internet" in logged.last_error and "webhooks.allow_private_addresses" in logged.last_error
    )
    assert receiver.got == [] and asked == ["hooks.example.com"]


def test_the_connection_goes_to_the_address_the_name_resolved_to_with_the_name_as_host(
    desk, admin, receiver, store, clock, settings
):
    """The name is resolved once, by us; the request goes to that address, and says the name."""
    port = int(receiver.url.split(":")[2].split("/")[0])
    sub = desk.add_webhook(admin, f"http://hooks.example.com:{port}/hooks", ["ticket.created"], SECRET)
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    sender = WebhookSender(desk, clock, allow_private=True, resolver=resolver)
    dispatcher = Dispatcher(store, clock, {"webhook": sender, "email": RecordingSender()}, settings.outbox)
    desk.receive(make_inbound())
    assert dispatcher.run_once().dead == 0
    [delivery] = receiver.accepted
    assert delivery.headers["Host"] == f"hooks.example.com:{port}"
    assert asked == ["hooks.example.com"]
    [logged] = desk.webhook_deliveries(admin, sub.id)
    assert logged.status == "sent"
