"""Delivers webhook notifications from the outbox: one signed HTTP POST each.

The body is the notification's context, serialized once (compact UTF-8 JSON);
``X-Supportbot-Signature: sha256=<hex>`` is the HMAC-SHA256 of exactly those
bytes with the subscription's secret, so a receiver verifies what it got
before parsing it. ``X-Supportbot-Delivery`` is the same on every attempt of
one delivery: a receiver that saw it already can answer 2xx and drop it.

Outcomes, for the dispatcher: 2xx is done; 429, 5xx and a receiver we cannot
reach are retried with backoff (``Retry-After`` honoured) and, like any
channel that is down, kept trying for ``outbox.retry_hours``; any other
status (404, 410, a redirect, which is never followed), a subscription that
is gone and a URL whose name resolves inside the network (unless
``webhooks.allow_private_addresses`` is on; the connection goes to the address
that was checked, see :mod:`channels.outbound_http`) fail for good. The HTTP
status goes into the error, which is what the delivery log shows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Protocol

import httpx

from bot.messages import Outbound
from bot.notify.outbox import PermanentDeliveryError, TransientDeliveryError, retry_after_seconds
from bot.notify.webhooks import Target
from bot.ports import Clock
from channels import outbound_http

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
USER_AGENT = "Supportbot-Webhooks/1"
# How much of a receiver's answer the delivery log keeps beside its status.
ERROR_EXCERPT = 120


class Subscriptions(Protocol):
    """What the sender asks the core (the Desk provides it)."""

    def webhook_target(self, subscription_id: int) -> Target | None: ...


def body_of(outbound: Outbound) -> bytes:
    return json.dumps(outbound.context, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    """The outbox's sender for channel ``webhook`` (a :class:`bot.ports.Sender`)."""

    def __init__(
        self,
        subscriptions: Subscriptions,
        clock: Clock,
        *,
        allow_private: bool = False,
        resolver: outbound_http.Resolver = outbound_http.system_resolver,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.subscriptions = subscriptions
        self.clock = clock
        self.allow_private = allow_private
        self.resolver = resolver
        self.timeout = timeout

    def send(self, outbound: Outbound) -> None:
        target = self._target(outbound)
        body = body_of(outbound)
        delivery = str(outbound.context.get("id", outbound.notification_id))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Supportbot-Event": outbound.template,
            "X-Supportbot-Delivery": delivery,
            "X-Supportbot-Signature": signature(target.secret, body),
        }
        response = outbound_http.request(
            "POST",
            target.url,
            content=body,
            headers=headers,
            timeout=self.timeout,
            allow_private=self.allow_private,
            setting="webhooks.allow_private_addresses",
            resolver=self.resolver,
        )
        self._judge(response, target, outbound)

    def _target(self, outbound: Outbound) -> Target:
        try:
            subscription_id = int(outbound.recipient)
        except ValueError:
            raise PermanentDeliveryError(f"{outbound.recipient!r} is no webhook subscription") from None
        target = self.subscriptions.webhook_target(subscription_id)
        if target is None:
            raise PermanentDeliveryError(f"webhook subscription {subscription_id} was removed")
        if not target.active:
            raise PermanentDeliveryError(f"webhook subscription {subscription_id} is inactive")
        return target

    def _judge(self, response: httpx.Response, target: Target, outbound: Outbound) -> None:
        status = response.status_code
        if 200 <= status < 300:
            logger.info(
                "webhook %s (%s) delivered to subscription %s: HTTP %d",
                outbound.notification_id,
                outbound.template,
                target.id,
                status,
            )
            return
        answer = outbound_http.excerpt(response, ERROR_EXCERPT)
        detail = f"HTTP {status} from {outbound_http.host(target.url)}{answer}"
        if status == 429 or status >= 500:
            raise TransientDeliveryError(
                detail,
                retry_after=retry_after_seconds(response.headers.get("Retry-After"), self.clock.now()),
                outage=True,
            )
        raise PermanentDeliveryError(detail)
