"""``GET /metrics``: Prometheus text read from the store."""

from __future__ import annotations

from tests.integration.api.conftest import World

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
