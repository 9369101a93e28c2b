"""Sends our side of the protocol from the outbox: one HTTP request per notification.

The notification's context holds the method, the path under the partner's
sharing URL and the JSON body, fixed when the change happened. Every request
carries ``X-Ticket-Sharing-Token`` (the invitation too: the partner may
insist, and the gem's partners accept it) and ``X-Ticket-Sharing-Version: 1``.

What the outbox does not hold is filled in as the request leaves: the
invitation's access key, and a ticket's status as it is now (a retried
request never puts back a status that has changed since). Partners are
called only on addresses on the internet, unless
``sharing.allow_private_addresses`` is on: an invitation cannot make us reach
inside the network. The name is resolved once as the request leaves, and the
connection goes to the address that was checked (:mod:`channels.outbound_http`).

Outcomes, for the dispatcher: 2xx is done. A partner that is down (no answer,
408, 429, 5xx) is retried with backoff and waited for ``outbox.retry_hours``.
A 404 to a ticket update is retried a few times: the share that creates the
ticket may still be on its way. Redirects are not followed (the invitation
carries the secret; a partner that moved says so in its agreement). Any other
answer fails for good and shows in the agreement's ``delivery_error``.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

import httpx

from bot.messages import Outbound
from bot.notify.outbox import PermanentDeliveryError, TransientDeliveryError, retry_after_seconds
from bot.ports import Clock
from bot.sharing import protocol as p
from bot.sharing.agreements import Partner
from channels import outbound_http

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 15.0
USER_AGENT = "Supportbot-Sharing/1"
ERROR_EXCERPT = 160


class Partners(Protocol):
    """What the client asks the core (the sharing facade provides it)."""

    def partner(self, agreement_id: int) -> Partner | None: ...

    def wire_status(self, ticket_id: int) -> str | None: ...

    def confirm(self, agreement_id: int, taken: bool, detail: str = "") -> None: ...


class SharingClient:
    """The outbox's sender for channel ``sharing`` (a :class:`bot.ports.Sender`)."""

    def __init__(
        self,
        partners: Partners,
        clock: Clock,
        *,
        allow_private: bool = False,
        resolver: outbound_http.Resolver = outbound_http.system_resolver,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.partners = partners
        self.clock = clock
        self.allow_private = allow_private
        self.resolver = resolver
        self.timeout = timeout

    def send(self, outbound: Outbound) -> None:
        partner = self._partner(outbound)
        method = str(outbound.context["method"])
        path = str(outbound.context["path"])
        if path.startswith("tickets/") and partner.status != p.ACCEPTED:
            raise PermanentDeliveryError(f"agreement {partner.id} is {partner.status}: nothing more is sent")
        url = f"{partner.url.rstrip('/')}/{path}"
        body = self._filled(outbound, partner, method, path)
        headers = {
            p.TOKEN_HEADER: partner.token,
            p.VERSION_HEADER: p.VERSION,
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        content = b""
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        response = outbound_http.request(
            method,
            url,
            content=content,
            headers=headers,
            timeout=self.timeout,
            allow_private=self.allow_private,
            setting="sharing.allow_private_addresses",
            resolver=self.resolver,
        )
        try:
            self._judge(response, outbound, partner, method)
        except PermanentDeliveryError as error:
            if outbound.context.get("confirms"):
                self.partners.confirm(partner.id, False, str(error))
            raise
        if outbound.context.get("confirms"):
            self.partners.confirm(partner.id, True)

    def _filled(self, outbound: Outbound, partner: Partner, method: str, path: str) -> dict[str, Any] | None:
        body = outbound.context.get("body")
        if body is None:
            return None
        body = dict(body)
        if method == "POST" and path.startswith("agreements/"):
            body["access_key"] = partner.token.partition(":")[2]
        ticket_id = outbound.context.get("status_of")
        if ticket_id is not None:
            status = self.partners.wire_status(int(ticket_id))
            if status is not None:
                body["status"] = status
        return body

    def _partner(self, outbound: Outbound) -> Partner:
        try:
            agreement_id = int(outbound.recipient)
        except ValueError:
            raise PermanentDeliveryError(f"{outbound.recipient!r} is no sharing agreement") from None
        partner = self.partners.partner(agreement_id)
        if partner is None:
            raise PermanentDeliveryError(f"sharing agreement {agreement_id} was removed")
        return partner

    def _judge(self, response: httpx.Response, outbound: Outbound, partner: Partner, method: str) -> None:
        status = response.status_code
        what = f"{method} {str(outbound.context['path']).split('/')[0]}"
        if 200 <= status < 300:
            logger.info(
                "sharing %s to agreement %s (notification %s): HTTP %d",
                what,
                partner.id,
                outbound.notification_id,
                status,
            )
            return
        answer = outbound_http.excerpt(response, ERROR_EXCERPT)
        detail = f"HTTP {status} from {outbound_http.host(partner.url)} to {what}{answer}"
        if status in (408, 429) or status >= 500:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"), self.clock.now())
            raise TransientDeliveryError(detail, retry_after=retry_after, outage=True)
        if status == 404 and method == "PUT" and what == "PUT tickets":
            raise TransientDeliveryError(detail + " (the share may not have arrived yet)")
        if 300 <= status < 400:
            detail += f"; it points to {response.headers.get('Location', '?')}: update the agreement's URL"
        raise PermanentDeliveryError(detail)
