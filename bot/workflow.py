"""Which status changes are allowed; pure, built from ``status_transitions`` in config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.errors import ConfigError, InvalidTransition
from bot.model import Status

DEFAULT_TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.IN_PROGRESS, Status.WAITING_CUSTOMER, Status.RESOLVED, Status.CLOSED}),
    Status.IN_PROGRESS: frozenset({Status.OPEN, Status.WAITING_CUSTOMER, Status.RESOLVED, Status.CLOSED}),
    Status.WAITING_CUSTOMER: frozenset({Status.OPEN, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.OPEN, Status.IN_PROGRESS, Status.CLOSED}),
    Status.CLOSED: frozenset({Status.OPEN}),
}


@dataclass(frozen=True, slots=True)
class Workflow:
    transitions: Mapping[Status, frozenset[Status]]

    @classmethod
    def from_config(cls, raw: Mapping[str, Sequence[str]]) -> Workflow:
        """Empty means the default lifecycle; otherwise every name must be a known status."""
        if not raw:
            return cls(DEFAULT_TRANSITIONS)
        known = ", ".join(Status)
        table: dict[Status, frozenset[Status]] = {status: frozenset() for status in Status}
        for source, targets in raw.items():
            try:
                table[Status(source)] = frozenset(Status(t) for t in targets)
            except ValueError as exc:
                raise ConfigError(f"status_transitions: {exc}; statuses are: {known}") from None
        return cls(table)

    def allows(self, current: Status, target: Status) -> bool:
        return target in self.transitions.get(current, frozenset())

    def check(self, current: Status, target: Status) -> None:
        if current == target:
            raise InvalidTransition(f"the ticket is already {current}", field="status")
        if not self.allows(current, target):
            allowed = sorted(self.transitions.get(current, frozenset()))
            hint = ", ".join(allowed) if allowed else "nothing (it is final)"
            raise InvalidTransition(
                f"cannot change status from {current} to {target}; from {current} it can go to {hint}",
                field="status",
            )
