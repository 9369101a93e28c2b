"""The enabled rules of one version of the rule book, indexed the way events look them up.

An event asks only for its trigger's rules, already in position order, so a desk
with a thousand rules on other triggers pays nothing for them; the time-based ones
are kept apart for the sweep and for each ticket's next check.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.rules.model import Rule


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    _by_trigger: dict[str, tuple[Rule, ...]] = field(init=False, repr=False, compare=False)
    _by_id: dict[int, Rule] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.rules, key=lambda rule: (rule.position, rule.id)))
        object.__setattr__(self, "rules", ordered)
        grouped: dict[str, list[Rule]] = {}
        for rule in ordered:
            grouped.setdefault(rule.trigger.on, []).append(rule)
        object.__setattr__(self, "_by_trigger", {on: tuple(rules) for on, rules in grouped.items()})
        object.__setattr__(self, "_by_id", {rule.id: rule for rule in ordered})

    @classmethod
    def of(cls, rules: Iterable[Rule]) -> RuleSet:
        return cls(tuple(rules))

    def on(self, trigger: str) -> tuple[Rule, ...]:
        """The enabled rules of a trigger, in the order they run."""
        return self._by_trigger.get(trigger, ())

    @property
    def timed(self) -> tuple[Rule, ...]:
        return self.on("time")

    def get(self, rule_id: int) -> Rule | None:
        return self._by_id.get(rule_id)

    def __bool__(self) -> bool:
        return bool(self.rules)
