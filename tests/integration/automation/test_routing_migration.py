"""Migration 0017: stored routing rules become "ticket created" automation rules.

A database is built at 0016 (SQLite file, or a PostgreSQL schema of its own),
given teams, categories and routing rules the way the old routing API stored
them, then upgraded to head. The rules must come out as automation rules that
stop at the first match, in the same order and state; the routing API must
show them as before; and new tickets must be placed as the old rules placed them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import create_engine, text

from bot.config.settings import load
from bot.desk.facade import Desk
from bot.messages import Identity, Inbound
from bot.model import Actor
from bot.store import migrate
from bot.store.db import Store
from bot.store.types import JsonType, UtcDateTime
from tests.conftest import POSTGRES_URL
from tests.fakes import FakeClock

STORED_AT = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)

_teams = sa.table("teams", sa.column("id"), sa.column("name"), sa.column("created_at", UtcDateTime()))
_categories = sa.table(
    "categories",
    sa.column("id"),
    sa.column("path"),
    sa.column("name"),
    sa.column("parent_id"),
    sa.column("team_id"),
    sa.column("created_at", UtcDateTime()),
)
_routing = sa.table(
    "routing_rules",
    sa.column("id"),
    sa.column("name"),
    sa.column("position"),
    sa.column("enabled"),
    sa.column("channel"),
    sa.column("mailbox"),
    sa.column("sender"),
    sa.column("keywords", JsonType),
    sa.column("team_id"),
    sa.column("category_id"),
    sa.column("priority"),
    sa.column("tags", JsonType),
    sa.column("created_at", UtcDateTime()),
    sa.column("updated_at", UtcDateTime()),
)

NETWORK, SALES = 1, 2  # teams
IT, IT_NETWORK = 1, 2  # categories: IT (Network's), IT/Network (Sales')
TEAMS = {NETWORK: "Network", SALES: "Sales"}
CATEGORIES = {IT: "IT", IT_NETWORK: "IT/Network"}


@dataclass(frozen=True)
class Old:
    """A routing rule as the old API stored it (team and category by id)."""

    id: int
    name: str
    position: int
    enabled: bool = True
    channel: str = ""
    mailbox: str = ""
    sender: str = ""
    keywords: tuple[str, ...] = ()
    team_id: int | None = None
    category_id: int | None = None
    priority: str = ""
    tags: tuple[str, ...] = ()

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "position": self.position,
            "enabled": self.enabled,
            "channel": self.channel,
            "mailbox": self.mailbox,
            "sender": self.sender,
            "keywords": list(self.keywords),
            "team_id": self.team_id,
            "category_id": self.category_id,
            "priority": self.priority,
            "tags": list(self.tags),
            "created_at": STORED_AT,
            "updated_at": STORED_AT,
        }

    def view(self) -> dict[str, Any]:
        """What the old routing API listed for it."""
        return {
            "id": self.id,
            "name": self.name,
            "position": self.position,
            "enabled": self.enabled,
            "conditions": {
                "channel": self.channel or None,
                "mailbox": self.mailbox or None,
                "sender": self.sender or None,
                "keywords": list(self.keywords),
            },
            "actions": {
                "team": TEAMS.get(self.team_id or 0),
                "category": CATEGORIES.get(self.category_id or 0),
                "priority": self.priority or None,
                "tags": list(self.tags),
            },
        }


# Ids out of position order, as rules moved by admins are.
RULES = (
    Old(
        1,
        "Network by keyword",
        30,
        keywords=("vpn", "site-to-site tunnel"),
        team_id=NETWORK,
        category_id=IT_NETWORK,
        priority="high",
        tags=("network", "vpn"),
    ),
    Old(2, "Sales mailbox", 10, mailbox="sales@support.test", team_id=SALES, tags=("sales",)),
    Old(3, "VIP domain", 20, sender="@vip.test", priority="urgent", tags=("vip",)),
    Old(4, "The boss", 25, sender="boss@corp.test", category_id=IT, priority="high"),
    Old(5, "API tickets", 40, channel="api", priority="low", tags=("api",)),
    Old(6, "Outages (team removed)", 50, keywords=("outage",), team_id=None, priority="urgent"),
    Old(7, "Invoices (disabled)", 60, enabled=False, keywords=("invoice",), team_id=SALES, priority="low"),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def at_0016(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database of its own, migrated to 0016 and holding teams and categories."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        cleanup = None
    else:
        request.getfixturevalue("postgres_url")  # skips (or fails in CI) without a server
        schema = f"sbmig_{uuid.uuid4().hex[:10]}"
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        cleanup = (admin, schema)
    store = Store(url)
    try:
        migrate.upgrade(store, "0016")
        with store.write_engine.begin() as connection:
            connection.execute(
                _teams.insert(),
                [{"id": i, "name": name, "created_at": STORED_AT} for i, name in TEAMS.items()],
            )
            for values in (
                {"id": IT, "path": "IT", "name": "IT", "parent_id": None, "team_id": NETWORK},
                {
                    "id": IT_NETWORK,
                    "path": "IT/Network",
                    "name": "Network",
                    "parent_id": IT,
                    "team_id": SALES,
                },
            ):
                connection.execute(_categories.insert().values(created_at=STORED_AT, **values))
        store.dispose()
        yield url
    finally:
        store.dispose()
        if cleanup is not None:
            admin, schema = cleanup
            with admin.connect() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def _store_rules(url: str, rules: Sequence[Old]) -> None:
    if not rules:
        return
    store = Store(url)
    with store.write_engine.begin() as connection:
        connection.execute(_routing.insert(), [rule.row() for rule in rules])
        if connection.dialect.name == "postgresql":
            # Rows written with their ids, as the old API's inserts had moved the sequence on.
            connection.execute(
                text("SELECT setval('routing_rules_id_seq', (SELECT max(id) FROM routing_rules))")
            )
    store.dispose()


@pytest.fixture
def upgraded(at_0016: str, tmp_path: Path) -> Iterator[Any]:
    """Upgrade with ``RULES`` stored, and a desk on the result."""

    def upgrade(rules: Sequence[Old] = RULES) -> Desk:
        _store_rules(at_0016, rules)
        store = Store(at_0016)
        stores.append(store)
        migrate.upgrade(store)
        settings = load(
            None, {"SUPPORTBOT_DATA_DIR": str(tmp_path / "data"), "SUPPORTBOT_DATABASE_URL": at_0016}
        )
        return Desk(store, FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)), settings)

    stores: list[Store] = []
    yield upgrade
    for store in stores:
        store.dispose()


def _in_order(rules: Sequence[Old]) -> list[Old]:
    return sorted(rules, key=lambda rule: (rule.position, rule.id))


Placed = tuple[str | None, str | None, str, tuple[str, ...]]


def _placed(desk: Desk, *, subject: str, email: str = "casey@example.com", **extra: Any) -> Placed:
    """Where a new ticket from ``email`` went: (team, category, priority, tags)."""
    receipt = desk.receive(
        Inbound(
            channel=extra.pop("channel", "email"),
            sender=Identity(email=email, name="Someone"),
            subject=subject,
            text=extra.pop("body", "Please help."),
            key=f"<{uuid.uuid4().hex}@example.com>",
            **extra,
        )
    )
    assert receipt.ticket_number is not None
    ticket = desk.visible_ticket(Actor.console(), receipt.ticket_number).ticket
    return (ticket.team, ticket.category, ticket.priority, tuple(sorted(ticket.tags)))


def test_routing_rules_become_ticket_created_rules_that_stop_at_the_first_match(upgraded, admin):
    desk = upgraded()
    stored = desk.list_automations(admin)
    # A rule whose every action was removed would do nothing; the others all come across.
    assert [(r["name"], r["position"], r["enabled"]) for r in stored] == [
        (rule.name, rule.position, rule.enabled) for rule in _in_order(RULES)
    ]
    for rule in stored:
        assert rule["trigger"] == {"on": "ticket_created"}
        assert rule["stop"] is True and rule["mode"] == "live"
        assert rule["conditions"]["any"] == []
        assert rule["created_at"] == STORED_AT.isoformat()
    by_name = {rule["name"]: rule for rule in stored}
    assert by_name["Network by keyword"]["conditions"]["all"] == [
        {"field": "text", "op": "contains", "value": ["vpn", "site-to-site tunnel"]}
    ]
    assert by_name["Network by keyword"]["actions"] == [
        {"do": "set_category", "value": "IT/Network"},
        {"do": "set_team", "value": "Network"},
        {"do": "set_priority", "value": "high"},
        {"do": "add_tags", "tags": ["network", "vpn"]},
    ]
    assert by_name["Sales mailbox"]["conditions"]["all"] == [
        {"field": "mailbox", "op": "is", "value": "sales@support.test"}
    ]
    assert by_name["Sales mailbox"]["actions"] == [
        {"do": "set_team", "value": "Sales"},
        {"do": "add_tags", "tags": ["sales"]},
    ]
    assert by_name["VIP domain"]["conditions"]["all"] == [
        {"field": "requester_domain", "op": "is", "value": "vip.test"}
    ]
    assert by_name["The boss"]["conditions"]["all"] == [
        {"field": "requester", "op": "is", "value": "boss@corp.test"}
    ]
    assert by_name["The boss"]["actions"] == [
        {"do": "set_category", "value": "IT"},
        {"do": "set_priority", "value": "high"},
    ]
    assert by_name["API tickets"]["conditions"]["all"] == [{"field": "channel", "op": "is", "value": "api"}]
    assert by_name["Outages (team removed)"]["actions"] == [{"do": "set_priority", "value": "urgent"}]
    assert by_name["Invoices (disabled)"]["enabled"] is False


def test_the_routing_api_lists_the_same_rules_as_before(upgraded, admin):
    desk = upgraded()
    listed = desk.list_routing_rules(admin)
    expected = [rule.view() for rule in _in_order(RULES)]
    assert [{**view, "id": None} for view in listed] == [{**view, "id": None} for view in expected]


def test_the_routing_rules_keep_their_ids(upgraded, admin):
    """Scripts name rules by id (``supportbot routing remove 3``, ``/api/v1/routing/rules/3``)."""
    desk = upgraded()
    assert [(view["id"], view["name"]) for view in desk.list_routing_rules(admin)] == [
        (rule.id, rule.name) for rule in _in_order(RULES)
    ]


def test_new_tickets_are_placed_as_the_routing_rules_placed_them(upgraded):
    desk = upgraded()
    # (team, category, priority, tags), as the old first-match routing worked them out
    assert _placed(desk, subject="VPN down") == ("Network", "IT/Network", "high", ("network", "vpn"))
    assert _placed(desk, subject="Our site-to-site tunnel drops") == (
        "Network",
        "IT/Network",
        "high",
        ("network", "vpn"),
    )
    assert _placed(desk, subject="the vpnclient crashed") == (None, None, "medium", ())
    # Sales' mailbox comes first (position 10), so its rule wins over the VPN keyword.
    assert _placed(desk, subject="VPN down", mailbox="Sales@Support.test") == (
        "Sales",
        None,
        "medium",
        ("sales",),
    )
    assert _placed(desk, subject="Hello", email="Ann@VIP.test") == (None, None, "urgent", ("vip",))
    assert _placed(desk, subject="Hello", email="ann@mail.vip.test") == (None, None, "medium", ())
    # The category brings its team when the rule names none.
    assert _placed(desk, subject="Hello", email="boss@corp.test") == ("Network", "IT", "high", ())
    assert _placed(desk, subject="Hello", channel="api", authenticated=True) == (None, None, "low", ("api",))
    assert _placed(desk, subject="Major outage") == (None, None, "urgent", ())
    assert _placed(desk, subject="Invoice question") == (None, None, "medium", ())
    # The first match stops the rest: a VIP writing about VPN gets only the VIP rule.
    assert _placed(desk, subject="VPN down", email="ann@vip.test") == (None, None, "urgent", ("vip",))


def test_a_rule_left_with_nothing_to_set_is_not_carried_over(upgraded, admin):
    """A routing rule whose only team had been removed set nothing and only kept later rules
    from matching; an automation rule must act, so it is not migrated (the migration logs
    it) and the next rule now places those tickets, as the migration's docstring says."""
    rules = (
        Old(1, "Printers (team removed)", 10, keywords=("printer",), team_id=None),
        Old(2, "Printers, anything else", 20, keywords=("printer",), tags=("printers",)),
        Old(3, "Everything else", 30, priority="low"),
    )
    desk = upgraded(rules)
    assert _placed(desk, subject="Printer on fire") == (None, None, "medium", ("printers",))
    assert _placed(desk, subject="Scanner on fire") == (None, None, "low", ())
    assert [view["name"] for view in desk.list_routing_rules(admin)] == [rule.name for rule in rules[1:]]


def test_a_database_without_routing_rules_upgrades_to_no_automation_rules(upgraded, admin):
    desk = upgraded(())
    assert desk.list_automations(admin) == []
    assert desk.list_routing_rules(admin) == []
    assert _placed(desk, subject="VPN down") == (None, None, "medium", ())
