"""Ticket statuses across the border: the protocol's six and ours, defaults and configured tables."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.model import Status
from bot.sharing import statuses
from bot.sharing.protocol import TICKET_STATUSES


@pytest.mark.parametrize(
    ("wire", "local"),
    [
        ("new", Status.OPEN),
        ("open", Status.OPEN),
        ("pending", Status.WAITING_CUSTOMER),
        ("hold", Status.IN_PROGRESS),
        ("solved", Status.RESOLVED),
        ("closed", Status.CLOSED),
    ],
)
def test_to_local_maps_every_protocol_status_by_default(wire: str, local: Status) -> None:
    assert statuses.to_local(wire, {}) is local


@pytest.mark.parametrize(
    ("local", "wire"),
    [
        (Status.OPEN, "open"),
        (Status.IN_PROGRESS, "open"),
        (Status.WAITING_CUSTOMER, "pending"),
        (Status.RESOLVED, "solved"),
        (Status.CLOSED, "closed"),
    ],
)
def test_to_wire_maps_every_status_of_ours_by_default(local: Status, wire: str) -> None:
    assert statuses.to_wire(local.value, {}) == wire


def test_the_defaults_cover_both_sets_and_send_only_protocol_statuses() -> None:
    assert set(statuses.STATUS_IN) == set(TICKET_STATUSES)
    assert set(statuses.STATUS_OUT) == set(Status)
    assert set(statuses.STATUS_OUT.values()) <= set(TICKET_STATUSES)
    statuses.check_tables({k: v.value for k, v in statuses.STATUS_IN.items()}, {})


@pytest.mark.parametrize("wire", ["in_progress", "waiting", "Open", "", "deleted"])
def test_to_local_gives_none_for_a_status_outside_the_protocol(wire: str) -> None:
    assert statuses.to_local(wire, {}) is None
    assert statuses.to_local(wire, {"hold": "waiting_customer"}) is None


def test_overrides_replace_single_entries_and_keep_the_rest() -> None:
    status_in = {"hold": "waiting_customer", "new": "in_progress"}
    status_out = {"in_progress": "hold", "waiting_customer": "hold"}
    statuses.check_tables(status_in, status_out)
    assert statuses.to_local("hold", status_in) is Status.WAITING_CUSTOMER
    assert statuses.to_local("new", status_in) is Status.IN_PROGRESS
    assert statuses.to_local("solved", status_in) is Status.RESOLVED
    assert statuses.to_wire("in_progress", status_out) == "hold"
    assert statuses.to_wire("waiting_customer", status_out) == "hold"
    assert statuses.to_wire("closed", status_out) == "closed"


@pytest.mark.parametrize(
    ("status_in", "status_out", "option"),
    [
        ({"on-hold": "in_progress"}, {}, "sharing.status_in"),
        ({"hold": "paused"}, {}, "sharing.status_in"),
        ({"Hold": "in_progress"}, {}, "sharing.status_in"),
        ({}, {"paused": "hold"}, "sharing.status_out"),
        ({}, {"in_progress": "in_progress"}, "sharing.status_out"),
        ({}, {"resolved": "Solved"}, "sharing.status_out"),
    ],
)
def test_check_tables_refuses_what_is_not_a_status_naming_the_option(
    status_in: dict[str, str], status_out: dict[str, str], option: str
) -> None:
    with pytest.raises(ConfigError, match=option):
        statuses.check_tables(status_in, status_out)
