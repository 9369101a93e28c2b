"""One HTTP request to another system from the outbox, for the channels that send over HTTP
(webhooks, ticket sharing): what cannot reach the other side becomes a retry.

A client per request: nothing to close at shutdown, and the dispatcher's pace (one
request at a time per thread) gains little from a pool. Redirects are never followed
and the environment's proxies are not used.
"""

from __future__ import annotations

import httpx

from bot.outbox import TransientDeliveryError


def request(
    method: str,
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    timeout: float,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Response:
    """The response, whatever its status; no answer in time or no connection is an outage."""
    with httpx.Client(
        timeout=timeout, follow_redirects=False, transport=transport, trust_env=False
    ) as client:
        try:
            return client.request(method, url, content=content, headers=headers)
        except httpx.TimeoutException as error:
            raise TransientDeliveryError(
                f"no answer from {host(url)} in {timeout:g} s ({type(error).__name__})", outage=True
            ) from None
        except httpx.TransportError as error:
            raise TransientDeliveryError(
                f"cannot reach {host(url)}: {type(error).__name__}: {error}", outage=True
            ) from None


def host(url: str) -> str:
    """For messages: the host, not the whole URL (which may carry a token in its query)."""
    return httpx.URL(url).host or "?"


def excerpt(response: httpx.Response, limit: int) -> str:
    """The start of the other side's answer, on one line, for the delivery log."""
    text = " ".join(response.text.split())[:limit]
    return f": {text}" if text else ""
