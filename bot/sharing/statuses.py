"""Ticket statuses across the border: the protocol's six and our workflow's, both ways.

Tables, like RT's, so a team whose partner uses ``hold`` for "with the
vendor" can say what that means here. The defaults map every protocol status
and every status of ours; a setting replaces single entries.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.errors import ConfigError
from bot.model import Status
from bot.sharing.protocol import TICKET_STATUSES

STATUS_IN: Mapping[str, Status] = {
    "new": Status.OPEN,
    "open": Status.OPEN,
    "pending": Status.WAITING_CUSTOMER,
    "hold": Status.IN_PROGRESS,
    "solved": Status.RESOLVED,
    "closed": Status.CLOSED,
}
STATUS_OUT: Mapping[Status, str] = {
    Status.OPEN: "open",
    Status.IN_PROGRESS: "open",
    Status.WAITING_CUSTOMER: "pending",
    Status.RESOLVED: "solved",
    Status.CLOSED: "closed",
}


def check_tables(status_in: Mapping[str, str], status_out: Mapping[str, str]) -> None:
    ours = [status.value for status in Status]
    for wire, local in status_in.items():
        if wire not in TICKET_STATUSES or local not in ours:
            raise ConfigError(
                f"sharing.status_in: {wire} = {local!r} must map one of {', '.join(TICKET_STATUSES)} "
                f"to one of {', '.join(ours)}"
            )
    for local, wire in status_out.items():
        if local not in ours or wire not in TICKET_STATUSES:
            raise ConfigError(
                f"sharing.status_out: {local} = {wire!r} must map one of {', '.join(ours)} "
                f"to one of {', '.join(TICKET_STATUSES)}"
            )


def to_local(wire: str, overrides: Mapping[str, str]) -> Status | None:
    """None for a status outside the protocol's set: kept as it was, and logged by the caller."""
    if wire in overrides:
        return Status(overrides[wire])
    return STATUS_IN.get(wire)


def to_wire(local: str, overrides: Mapping[str, str]) -> str:
    if local in overrides:
        return overrides[local]
    return STATUS_OUT[Status(local)]
