"""The web desk over real HTTP: uvicorn in a thread serving the app ``supportbot serve``
builds, a cookie-keeping client per person, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.desk.facade import Desk
from bot.model import Actor, Role
from bot.store import tables as t
from bot.store.db import Store
from channels.http.api import create_app
from channels.web.app import WebDesk, web_routes
from tests.live_http import LiveServer

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


class Browser(httpx.Client):
    """One person's browser: keeps its cookies, finds the CSRF token on the last page."""

    csrf: str = ""

    def request(self, method: str, url: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        response = super().request(method, url, **kwargs)
        found = (
            CSRF.search(response.text) if "text/html" in response.headers.get("content-type", "") else None
        )
        if found:
            self.csrf = found.group(1)
        return response

    def submit(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        """A form post as the page would send it, with this browser's CSRF token."""
        if not self.csrf:
            self.get("/signin")
        return self.post(url, data={"csrf": self.csrf, **(data or {})}, **kwargs)


@pytest.fixture
def web(desk: Desk) -> WebDesk:
    """Queue counts recounted at every change, so a test sees its own changes counted."""
    settings = replace(desk.settings, web=replace(desk.settings.web, queue_counts_max_age_seconds=0))
    return web_routes(desk, settings)


@pytest.fixture
def server(store: Store, desk: Desk, web: WebDesk) -> Iterator[LiveServer]:
    app = create_app(store, web.routes, desk, limits=web.upload_paths)
    with LiveServer(app) as live:
        yield live


@pytest.fixture
def browser(server: LiveServer) -> Iterator[Browser]:
    with Browser(base_url=f"http://127.0.0.1:{server.port}", timeout=20) as client:
        yield client


@pytest.fixture
def open_browser(server: LiveServer) -> Iterator[Any]:
    """Another browser, for a second person: ``open_browser()``."""
    opened: list[Browser] = []

    def make() -> Browser:
        client = Browser(base_url=f"http://127.0.0.1:{server.port}", timeout=20)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


def staff(desk: Desk, email: str, role: Role = Role.AGENT, team: str | None = None) -> Actor:
    """A person with a password, ready to sign in."""
    person = desk.add_person(Actor.console(), email, name=email.split("@")[0].title(), role=role, team=team)
    desk.set_password(Actor.console(), email, PASSWORD)
    return Actor(person.id, email, role)


def sign_in_with_password(browser: Browser, email: str, password: str = PASSWORD) -> httpx.Response:
    browser.get("/signin")
    return browser.submit("/signin/password", {"email": email, "password": password, "next": "/"})


def last_link(store: Store, email: str, *, whole: bool = False) -> str:
    """The sign-in link mailed to ``email`` last, as the outbox holds it: its path, or
    ``whole``, the link itself."""
    with store.read() as session:
        row = session.scalars(
            select(t.Notification)
            .where(t.Notification.recipient == email, t.Notification.template == "sign_in_link")
            .order_by(t.Notification.id.desc())
        ).first()
    assert row is not None, f"no sign-in link for {email}"
    return str(row.context["link"]) if whole else str(httpx.URL(row.context["link"]).path)


def sign_in_with_link(browser: Browser, store: Store, email: str) -> httpx.Response:
    browser.get("/signin")
    browser.submit("/signin/link", {"email": email})
    path = last_link(store, email)
    browser.get(path)
    return browser.submit(path)
