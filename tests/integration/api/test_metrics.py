"""``GET /metrics``: Prometheus text read from the store."""

from __future__ import annotations

from dataclasses import replace

from bot.clock import SystemClock
from bot.config.settings import Settings
from bot.desk.facade import Desk
from bot.store.db import Store
from channels.http.api import create_app
from tests.integration.api.conftest import ApiClient, World

NAMES = (
    "supportbot_tickets",
    "supportbot_sla_breached_tickets",
    "supportbot_sla_at_risk_tickets",
    "supportbot_outbox_pending",
    "supportbot_outbox_oldest_pending_age_seconds",
    "supportbot_delivery_failures",
    "supportbot_inbound_messages_total",
)


def test_metrics_show_tickets_outbox_and_inbound_messages(world: World) -> None:
    response = world.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in NAMES:
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
    assert 'supportbot_tickets{priority="medium",status="open"} 2.0' in text
    assert 'supportbot_inbound_messages_total{channel="email"} 2.0' in text
    assert 'supportbot_outbox_pending{channel="email"}' in text


def test_metrics_token_when_set_is_required(store: Store, desk: Desk, settings: Settings) -> None:
    guarded = Desk(
        store, SystemClock(), replace(settings, http=replace(settings.http, metrics_token="m3trics"))
    )
    client = ApiClient(create_app(store, desk=guarded))
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    allowed = client.get("/metrics", headers={"Authorization": "Bearer m3trics"})
    assert allowed.status_code == 200 and "supportbot_tickets" in allowed.text


def test_metrics_count_held_mail_by_reason_and_poison_mail_by_way_in(world: World, desk: Desk) -> None:
    from bot.messages import Identity, Inbound

    for n in range(2):
        spam = Inbound(
            channel="email",
            key=f"<spam-{n}@example.net>",
            sender=Identity(email="spammer@example.net"),
            subject="Offer",
            text="Buy.",
            spam="X-Spam-Flag: YES",
        )
        assert desk.receive(spam).suspended_id is not None
    for via, key in (("smtp", "<a@example.com>"), ("imap", "<b@example.com>"), ("imap", "<c@example.com>")):
        for _ in range(desk.settings.email.max_attempts):
            desk.mail_failed(None, key, via, "RuntimeError: broken")

    text = world.client.get("/metrics").text

    assert 'supportbot_suspended_mail{reason="spam"} 2.0' in text
    assert 'supportbot_suspended_mail{reason="burst"} 0.0' in text
    assert 'supportbot_mail_set_aside_total{via="smtp"} 1.0' in text
    assert 'supportbot_mail_set_aside_total{via="imap"} 2.0' in text
