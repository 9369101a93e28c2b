"""Conditions turned into small functions once, when a rule is built, so that the
evaluator pays only for a call and a comparison on every ticket event.

This sits below :mod:`bot.rules.model` (whose dataclasses compile themselves
here) and so it also holds what those functions take: :class:`Facts` and
:class:`Change`, re-exported by :mod:`bot.rules.conditions`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

import re2

from bot.model import Priority

# A pattern is an admin's text run against every ticket: long ones are a typo or an attack.
MAX_PATTERN = 500
# RE2 is linear in the text, but a pasted log of megabytes is still worth cutting short.
MAX_SEARCH = 100_000
# RE2's own default is 8 MiB; a 500-character pattern never needs more than this, and a
# pattern that would (``(a{100}){100}``-like blow-ups) is refused when it is compiled.
_RE2_MAX_MEM = 2 << 20

PRIORITY_RANK = {priority.value: rank for rank, priority in enumerate(Priority)}
_COLLECTIONS = (tuple, list, set, frozenset)


class Facts(Protocol):
    """What rules may ask about one ticket; asked lazily, field by field, because some
    facts cost the engine a query and most rules are decided by their first condition."""

    def value(self, field: str) -> object: ...

    def hours_since(self, anchor: str, business: bool) -> float | None: ...

    def business_hours_now(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Change:
    """What the triggering event changed, in the same shapes facts have (category paths,
    team names, assignee emails, tag tuples), so one comparison serves both."""

    field: str
    before: object
    after: object


Test = Callable[[Facts, "Change | None"], bool]
Check = Callable[[object], bool]


def compile_pattern(pattern: str) -> Any:
    """An RE2 regex, or ``ValueError`` saying why not: RE2 refuses backreferences and
    lookarounds, the constructs that make other engines take exponential time."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"a pattern is at most {MAX_PATTERN} characters")
    options = re2.Options()
    options.max_mem = _RE2_MAX_MEM
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else "not a valid pattern"
        raise ValueError(
            detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        ) from None


def keyword_pattern(keywords: Sequence[str]) -> re.Pattern[str] | None:
    """Whole words or phrases, any case: ``vpn`` matches "VPN down" but not "vpnclient".
    The semantics routing rules always had (their migrated rules match the same words)."""
    alternatives = "|".join(re.escape(word) for word in keywords if word.strip())
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE) if alternatives else None


class Text(str):
    """A fact's text as rules read it: at most :data:`MAX_SEARCH` characters (a hostile mail
    of megabytes costs every rule no more than that), case-folded once however many rules
    look at it. Made by the facts, kept for one ticket's evaluation only."""

    _folded: str | None = None
    _utf8: bytes | None = None

    def folded(self) -> str:
        if self._folded is None:
            self._folded = self.casefold()
        return self._folded

    def utf8(self) -> bytes:
        if self._utf8 is None:
            self._utf8 = self.encode(errors="surrogatepass")
        return self._utf8


def text_fact(text: str) -> Text:
    return Text(text[:MAX_SEARCH])


def fold(text: str) -> str:
    """Case-folded text; a :class:`Text` keeps its own, so it is folded once."""
    return text.folded() if isinstance(text, Text) else text.casefold()


def is_set(fact: object) -> bool:
    """Unset is None or empty; 0 and False are values."""
    if fact is None:
        return False
    return not (isinstance(fact, str | tuple | list | set | frozenset) and not fact)


def as_number(fact: object) -> float | None:
    if isinstance(fact, bool):
        return None
    if isinstance(fact, int | float):
        return float(fact)
    if isinstance(fact, str):
        try:
            return float(fact)
        except ValueError:
            return None
    return None


def as_date(fact: object) -> date | None:
    if isinstance(fact, datetime):
        return fact.date()
    if isinstance(fact, date):
        return fact
    if isinstance(fact, str):
        try:
            return date.fromisoformat(fact)
        except ValueError:
            return None
    return None


def equals(field: str, value: object) -> Check:
    """The ``is`` test for one field and value: case-insensitive text, a category with its
    subcategories, numbers and dates by value; for a set-valued fact, any member."""
    if isinstance(value, bool):
        return lambda fact: isinstance(fact, bool) and fact is value
    if isinstance(value, date):
        return lambda fact: as_date(fact) == value
    if isinstance(value, int | float):
        number = float(value)
        return lambda fact: as_number(fact) == number
    if isinstance(value, tuple):
        return _any_member(value)
    if not isinstance(value, str):
        raise TypeError(f"cannot compare {field} with {value!r}")
    if field == "category":
        return one_of(field, (value,))
    wanted = value.casefold()
    return lambda fact: isinstance(fact, str) and fold(fact) == wanted


def one_of(field: str, values: Sequence[object]) -> Check:
    """The ``in`` test; a category also matches below any of the paths named."""
    if not all(isinstance(value, str) for value in values):
        checks = tuple(equals(field, value) for value in values)
        return lambda fact: any(check(fact) for check in checks)
    wanted = frozenset(str(value).casefold() for value in values)
    if field != "category":
        return lambda fact: isinstance(fact, str) and fold(fact) in wanted
    prefixes = tuple(path + "/" for path in wanted)

    def in_categories(fact: object) -> bool:
        if not isinstance(fact, str):
            return False
        folded = fold(fact)
        return folded in wanted or folded.startswith(prefixes)

    return in_categories


def _any_member(values: Sequence[object]) -> Check:
    wanted = frozenset(str(value).casefold() for value in values)

    def has_member(fact: object) -> bool:
        if not isinstance(fact, _COLLECTIONS):
            return False
        return any(isinstance(item, str) and item.casefold() in wanted for item in fact)

    return has_member


def contains(value: object) -> Check:
    """Whole words in text, or members of a set: one operator, decided by the fact's shape,
    because a custom field's name alone does not say whether it holds text or choices."""
    words = (value,) if isinstance(value, str) else tuple(str(word) for word in _items(value))
    pattern = keyword_pattern(words)
    folded_words = tuple(word.strip().casefold() for word in words if word.strip())
    members = _any_member(words)

    def has(fact: object) -> bool:
        if isinstance(fact, str):
            if pattern is None:
                return False
            haystack = fold(fact)
            # A word that is not even a substring cannot be a whole word; the pattern decides the rest.
            return any(word in haystack for word in folded_words) and pattern.search(fact) is not None
        return members(fact)

    return has


def _items(value: object) -> tuple[object, ...]:
    if isinstance(value, _COLLECTIONS):
        return tuple(value)
    raise TypeError(f"expected a word or a list of words, got {value!r}")


def order_key(field: str, value: object) -> tuple[Callable[[object], Any], Any]:
    """How to put a fact and the condition's value on one scale for ``gt``/``lt``."""
    if field == "priority":
        return (lambda fact: PRIORITY_RANK.get(fact.lower()) if isinstance(fact, str) else None), (
            PRIORITY_RANK[str(value)]
        )
    if isinstance(value, date):
        return as_date, value
    number = as_number(value)
    if number is None:
        raise TypeError(f"cannot order {field} by {value!r}")
    return as_number, number


def starts_with(value: str) -> Check:
    prefix = value.casefold()
    # Folding never shortens a character, so the prefix can only come from that many characters.
    return lambda fact: isinstance(fact, str) and fact[: len(prefix)].casefold().startswith(prefix)


def regex(value: str) -> Check:
    compiled = compile_pattern(value)
    return lambda fact: isinstance(fact, str) and compiled.search(_head(fact)) is not None


def _head(text: str) -> bytes:
    """The part of a text patterns search, as the UTF-8 RE2 reads: given bytes, the library
    skips converting the text and mapping offsets back, which costs more than the search."""
    if isinstance(text, Text):
        return text.utf8()
    return text[:MAX_SEARCH].encode(errors="surrogatepass")


def _getter(field: str, business: bool) -> Callable[[Facts], object]:
    if field.startswith("hours_since_"):
        anchor = field.removeprefix("hours_since_")
        return lambda facts: facts.hours_since(anchor, business)
    if field == "business_hours_now":
        return lambda facts: facts.business_hours_now()
    return lambda facts: facts.value(field)


def compile_condition(field: str, op: str, value: object, business: bool) -> Test:
    """The condition as one call; ``changed*`` look only at the change, never at facts."""
    if op == "changed":
        return lambda facts, change: change is not None and change.field == field
    if op in ("changed_from", "changed_to"):
        same = equals(field, value)
        if op == "changed_from":
            return lambda facts, change: change is not None and change.field == field and same(change.before)
        return lambda facts, change: change is not None and change.field == field and same(change.after)
    get = _getter(field, business)
    check = _check(field, op, value)
    if op in ("is_not", "not_in", "not_contains", "not_set"):
        return lambda facts, change: not check(get(facts))
    return lambda facts, change: check(get(facts))


def _check(field: str, op: str, value: object) -> Check:
    if op in ("is_set", "not_set"):
        return is_set
    if op in ("is", "is_not"):
        return equals(field, value)
    if op in ("in", "not_in"):
        return one_of(field, _items(value))
    if op in ("contains", "not_contains"):
        return contains(value)
    if op == "starts_with" and isinstance(value, str):
        return starts_with(value)
    if op == "matches" and isinstance(value, str):
        return regex(value)
    if op in ("gt", "lt"):
        key, bound = order_key(field, value)
        if op == "gt":
            return lambda fact: (found := key(fact)) is not None and found > bound
        return lambda fact: (found := key(fact)) is not None and found < bound
    raise ValueError(f"operator {op!r} with value {value!r} is not one rules know")
