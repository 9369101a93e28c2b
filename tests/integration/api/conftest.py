"""The REST API against the real store (SQLite and PostgreSQL): people, their tokens, two tickets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bot.desk.facade import Desk
from bot.messages import Identity, Inbound
from bot.model import Actor, Role
from bot.store.db import Store
from channels.http.api import api_application, create_app


@dataclass(frozen=True)
class World:
    """Who is who: tokens by role name, and a ticket of each requester."""

    client: ApiClient
    tokens: dict[str, str]
    own: str  # the requester's ticket
    others: str  # another requester's ticket

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who in self.tokens else {}


def open_ticket(desk: Desk, email: str, subject: str) -> str:
    receipt = desk.receive(
        Inbound(channel="email", sender=Identity(email=email), subject=subject, text="It is broken.")
    )
    assert receipt.ticket_number is not None
    return receipt.ticket_number


class ApiClient:
    """Requests dispatched into the app in process (httpx's ASGITransport), one event loop each.

    Not Starlette's TestClient: it warns (an error here) unless httpx2 is installed.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


@pytest.fixture(scope="session")
def api() -> FastAPI:
    """One API application for the session, bound to each test's desk in turn: building one
    (its routes' schemas) costs more than most tests. Tests run one at a time."""
    return api_application()


@pytest.fixture
def app(store: Store, desk: Desk, api: FastAPI) -> FastAPI:
    return create_app(store, desk=desk, api=api)


@pytest.fixture
def app_client(app: FastAPI) -> ApiClient:
    return ApiClient(app)


@pytest.fixture
def world(desk: Desk, admin: Actor, agent: Actor, app_client: ApiClient) -> World:
    desk.add_person(admin, "rita@customer.test", name="Rita Requester")
    desk.add_person(admin, "otto@other.test", name="Otto Other")
    desk.add_person(admin, "ada@support.test", name="Ada Admin", role=Role.ADMIN)
    tokens = {
        who: desk.create_token(admin, email)[1]
        for who, email in {
            "requester": "rita@customer.test",
            "other": "otto@other.test",
            "agent": "agent@support.test",
            "admin": "ada@support.test",
        }.items()
    }
    own = open_ticket(desk, "rita@customer.test", "Printer on fire")
    others = open_ticket(desk, "otto@other.test", "VPN down")
    return World(app_client, tokens, own, others)
