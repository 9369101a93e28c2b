"""``GET /metrics``: the store's figures in Prometheus text format, read afresh at each scrape."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Iterable, Iterator

from fastapi import Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.desk.facade import Desk


class DeskCollector(Collector):
    """One store read per scrape; nothing is counted in this process, so every instance agrees."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def collect(self) -> Iterator[Metric]:
        figures = self.desk.metrics_snapshot()
        tickets = GaugeMetricFamily(
            "supportbot_tickets", "Tickets by status and priority", labels=["status", "priority"]
        )
        for (status, priority), count in sorted(figures.tickets.items()):
            tickets.add_metric([status, priority], count)
        yield tickets
        yield GaugeMetricFamily(
            "supportbot_sla_breached_tickets",
            "Open tickets whose SLA is breached",
            value=figures.sla_breached,
        )
        yield GaugeMetricFamily(
            "supportbot_sla_at_risk_tickets", "Open tickets whose SLA is at risk", value=figures.sla_at_risk
        )
        yield _by_label(
            GaugeMetricFamily(
                "supportbot_outbox_pending",
                "Notifications waiting to be sent, by channel",
                labels=["channel"],
            ),
            figures.outbox_pending,
        )
        yield GaugeMetricFamily(
            "supportbot_outbox_oldest_pending_age_seconds",
            "Age of the oldest notification waiting to be sent (0: none)",
            value=figures.oldest_pending_age,
        )
        yield _by_label(
            GaugeMetricFamily(
                "supportbot_delivery_failures",
                "Notifications given up on (dead), by channel",
                labels=["channel"],
            ),
            figures.delivery_failures,
        )
        yield _by_label(
            CounterMetricFamily(
                "supportbot_inbound_messages",
                "Messages taken in (comments, first messages included), by channel",
                labels=["channel"],
            ),
            figures.inbound_messages,
        )
        yield _by_label(
            GaugeMetricFamily(
                "supportbot_suspended_mail",
                "Messages held for review instead of becoming tickets, by reason",
                labels=["reason"],
            ),
            figures.suspended_mail,
        )
        yield _by_label(
            CounterMetricFamily(
                "supportbot_mail_set_aside",
                "Messages set aside after failing every attempt to store them (poison messages), by way in",
                labels=["via"],
            ),
            figures.mail_set_aside,
        )


def _by_label(family: GaugeMetricFamily | CounterMetricFamily, counts: dict[str, int]) -> Metric:
    for label, count in sorted(counts.items()):
        family.add_metric([label], count)
    return family


def metrics_endpoint(
    desk: Desk, counters: Iterable[Collector] = ()
) -> Callable[[Request], Awaitable[Response]]:
    """With ``http.metrics_token`` set, a scrape must show it (Prometheus' ``authorization``
    setting); the figures say how busy the desk is, which is not everyone's business.
    ``counters`` are this process's own (the API's refused requests, see denials.py)."""
    registry = CollectorRegistry()
    registry.register(DeskCollector(desk))
    for counter in counters:
        registry.register(counter)
    token = desk.settings.http.metrics_token

    async def metrics(request: Request) -> Response:
        """Prometheus text format."""
        if token:
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
                return PlainTextResponse(
                    "send the metrics token as Authorization: Bearer <token>\n",
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        body = await asyncio.to_thread(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics
