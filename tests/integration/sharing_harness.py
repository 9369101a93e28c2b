"""Two help desks in one test: each its own store, desk and real HTTP server, sharing over loopback.

``acme`` (the sender) runs on the test's database (SQLite or PostgreSQL);
``globex`` (the receiver) on a SQLite file of its own. Their outboxes are
pumped by hand, so a test says exactly when requests cross.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from bot.config.settings import Settings, load
from bot.desk.facade import Desk
from bot.model import Actor
from bot.notify.outbox import Dispatcher
from bot.sharing.service import Sharing
from bot.store import tables as t
from bot.store.db import Store
from channels.http.api import create_app
from channels.sharing.client import SharingClient
from channels.sharing.endpoints import sharing_routes
from tests.factories import make_person
from tests.fakes import FakeClock, RecordingSender
from tests.live_http import LiveServer
from tests.ports import free_port


@dataclass
class HelpDesk:
    name: str
    settings: Settings
    store: Store
    desk: Desk
    sharing: Sharing
    dispatcher: Dispatcher
    email: RecordingSender
    port: int
    admin: Actor = field(default_factory=Actor.console)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/sharing"

    def agent(self, email: str, name: str) -> Actor:
        return make_person(self.desk, self.admin, email, name=name)

    def rows(self, model: Any) -> list[Any]:
        with self.store.read() as session:
            rows = list(session.scalars(select(model).order_by(model.id)))
            session.expunge_all()
            return rows

    def requests_sent(self) -> list[str]:
        """What this desk sent its partners, in order: ``"PUT tickets"``, ..."""
        with self.store.read() as session:
            rows = session.scalars(
                select(t.Notification).where(t.Notification.channel == "sharing").order_by(t.Notification.id)
            )
            return [row.template for row in rows]

    def comments(self, number: str) -> list[tuple[str, bool]]:
        """(body, public) of the ticket's comments, oldest first."""
        detail = self.desk.visible_ticket(Actor.console(), number)
        return [(c.body, c.public) for c in detail.comments]


def start(
    stack: ExitStack, name: str, database_url: str, data: Path, clock: FakeClock, **extra: str
) -> HelpDesk:
    port = free_port()
    environ = {
        "SUPPORTBOT_DATA_DIR": str(data),
        "SUPPORTBOT_DATABASE_URL": database_url,
        "SUPPORTBOT_HTTP_PORT": str(port),
        "SUPPORTBOT_SHARING_NAME": name,
        "SUPPORTBOT_TICKET_PREFIX": name[:3].upper(),
        # Both desks are on loopback.
        "SUPPORTBOT_SHARING_ALLOW_PRIVATE_ADDRESSES": "true",
        **extra,
    }
    settings = load(None, environ)
    store = Store(settings.database_url)
    stack.callback(store.dispose)
    desk = Desk(store, clock, settings)
    sharing = Sharing(desk)
    email = RecordingSender()
    client = SharingClient(sharing, clock, allow_private=settings.sharing.allow_private_addresses)
    senders = {"sharing": client, "email": email, "webhook": RecordingSender()}
    dispatcher = Dispatcher(store, clock, senders, settings.outbox)
    stack.enter_context(LiveServer(create_app(store, sharing_routes(sharing), desk), port=port))
    return HelpDesk(name, settings, store, desk, sharing, dispatcher, email, port)


@contextmanager
def two_desks(
    database_url: str, sqlite_template: Path, tmp_path: Path, clock: FakeClock, **extra: str
) -> Iterator[tuple[HelpDesk, HelpDesk]]:
    other = tmp_path / "globex.db"
    shutil.copyfile(sqlite_template, other)
    with ExitStack() as stack:
        acme = start(stack, "Acme", database_url, tmp_path / "acme", clock, **extra)
        globex = start(stack, "Globex", f"sqlite:///{other}", tmp_path / "globex", clock, **extra)
        yield acme, globex


def pump(*desks: HelpDesk, rounds: int = 10) -> None:
    """Run every outbox until none has anything due: a request one side sends may make the other answer."""
    for _ in range(rounds):
        if not sum(desk.dispatcher.run_until_idle().handled for desk in desks):
            return
    raise AssertionError("the outboxes never went idle")


def protocol_client() -> httpx.Client:
    return httpx.Client(timeout=10, trust_env=False)
