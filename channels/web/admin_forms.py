"""The administration pages' forms: each reads its fields and makes one desk call.

What a form may hold is bounded here as the API bounds the same fields (lengths, no NUL
characters, which PostgreSQL refuses); whether the values make sense is the desk's to say.
An action answers a key of what was done (the page after the redirect says it), or, for a
new API token, what the page must show once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData

from bot.automation.routing_rules import MAX_KEYWORDS, MAX_TAGS, RuleInput
from bot.desk.facade import Desk
from bot.errors import UserError
from bot.model import Actor, Role, parse_role
from bot.notify.webhooks import EVENTS
from bot.sla.settings import SlaPolicyOverride

# Never put back into a form after a refusal, nor anywhere else on a page.
SECRET_FIELDS = frozenset({"csrf", "password", "password_again", "secret"})
MAX_ROW_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL
Outcome = str | dict[str, Any]  # a key of what was done, or what the section's page shows once
Ids = Mapping[str, int]


class Values:
    """A posted form, read field by field with the limits the API puts on the same fields."""

    def __init__(self, form: FormData) -> None:
        self.form = form

    def text(self, name: str, limit: int = 200, *, strip: bool = True) -> str:
        value = self.form.get(name, "")
        if not isinstance(value, str):
            raise UserError(f"{name}: expected text, not a file", field=name)
        if "\x00" in value:
            raise UserError(f"{name}: NUL characters are not allowed", field=name)
        if len(value) > limit:
            raise UserError(f"{name}: at most {limit} characters", field=name)
        return value.strip() if strip else value

    def optional(self, name: str, limit: int = 200) -> str | None:
        return self.text(name, limit) or None

    def items(self, name: str, limit: int = 100, most: int = 50, *, sep: str | None = None) -> list[str]:
        """Several values in one text, split at ``sep`` (None: one per line)."""
        text = self.text(name, (limit + 1) * most)
        return self._few(name, text.splitlines() if sep is None else text.split(sep), limit, most)

    def checked(self, name: str, limit: int = 100, most: int = 50) -> list[str]:
        """The values of the boxes ticked under one name."""
        return self._few(name, [str(value) for value in self.form.getlist(name)], limit, most)

    def _few(self, name: str, raw: list[str], limit: int, most: int) -> list[str]:
        found = [item.strip() for item in raw if item.strip()]
        if len(found) > most or any(len(item) > limit or "\x00" in item for item in found):
            raise UserError(f"{name}: up to {most} values of up to {limit} characters", field=name)
        return found

    def flag(self, name: str) -> bool:
        return self.form.get(name) in ("on", "true", "1", "yes")

    def number(self, name: str) -> float | None:
        text = self.text(name, 40)
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise UserError(f"{name}: {text!r} is not a number", field=name)
        return number

    def refused(self, form: str, error: UserError) -> Failed:
        """The form as the page shows it again: why, and what was typed (secrets left out)."""
        values: dict[str, str] = {}
        lists: dict[str, list[str]] = {}
        for key in self.form:
            if key in SECRET_FIELDS:
                continue
            texts = [v for v in self.form.getlist(key) if isinstance(v, str)]
            lists[key] = texts
            values[key] = texts[-1] if texts else ""
        return Failed(form, error.message, error.field, values, lists)


@dataclass(frozen=True, slots=True)
class Failed:
    """A form the desk refused: which, why, the field at fault, and what was typed."""

    form: str
    message: str
    field: str | None
    # What was typed: each field's last value, and all of them (ticked boxes of one name).
    values: dict[str, str]
    lists: dict[str, list[str]]


Run = Callable[[Desk, Actor, Values, Ids], Outcome]


@dataclass(frozen=True, slots=True)
class Action:
    path: str
    section: str
    form: str
    run: Run


def _team_choice(values: Values) -> str | None:
    """The change form's team: "" unchanged, "none" out of their team, "team:NAME" that team."""
    choice = values.text("team", 210)
    if not choice:
        return None
    if choice == "none":
        return ""
    if not choice.startswith("team:"):
        raise UserError("choose a team from the list", field="team")
    return choice.removeprefix("team:")


def add_person(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    desk.add_person(
        actor,
        values.text("email", 320),
        name=values.text("name"),
        role=parse_role(values.text("role", 20) or Role.REQUESTER.value),
        team=values.optional("team"),
    )
    return "added"


def change_person(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    role = values.text("role", 20)
    desk.update_person(
        actor,
        values.text("email", 320),
        name=values.optional("name"),
        role=parse_role(role) if role else None,
        team=_team_choice(values),
    )
    return "changed"


def set_password(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    email = values.text("email", 320)
    if values.flag("remove"):
        desk.set_password(actor, email, None)
        return "password"
    password = values.text("password", 1000, strip=False)
    if password != values.text("password_again", 1000, strip=False):
        raise UserError("the two passwords are not the same", field="password")
    desk.set_password(actor, email, password)
    return "password"


def add_team(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    desk.add_team(actor, values.text("name"))
    return "added"


def set_team_lead(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    desk.set_team_lead(actor, values.text("team"), values.optional("email", 320))
    return "changed"


def add_category(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    desk.add_category(actor, values.text("path", 500), team=values.optional("team"))
    return "added"


def define_field(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    options: dict[str, Any] = {}
    choices = values.items("choices", 200, 200)
    if choices:
        options["choices"] = choices
    for name in ("min", "max"):
        number = values.number(name)
        if number is not None:
            options[name] = int(number) if number.is_integer() else number
    pattern = values.text("pattern", 500, strip=False)
    if pattern:
        options["pattern"] = pattern
    desk.define_field(
        actor,
        values.text("key", 100),
        values.text("label"),
        values.text("type", 30),
        options=options,
        required=values.flag("required"),
    )
    return "added"


def _policy(values: Values) -> SlaPolicyOverride:
    return SlaPolicyOverride(
        category=values.text("category", 400),
        priority=values.text("priority", 20),
        first_response=values.text("first_response", 20),
        resolution=values.text("resolution", 20),
        timezone=values.text("timezone", 100),
        business_hours=values.text("business_hours", 500),
        holiday_country=values.text("holiday_country", 10),
        holidays=values.text("holidays", 2000),
    )


def add_sla_policy(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    desk.add_sla_policy(actor, _policy(values))
    return "added"


def change_sla_policy(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    desk.change_sla_policy(actor, ids["policy_id"], _policy(values))
    return "changed"


def remove_sla_policy(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    desk.remove_sla_policy(actor, ids["policy_id"])
    return "removed"


def _rule(values: Values) -> RuleInput:
    position = values.number("position")
    if position is not None and not (position.is_integer() and 0 <= position <= MAX_ROW_ID):
        raise UserError(f"position: a whole number from 0 to {MAX_ROW_ID}", field="position")
    return RuleInput(
        name=values.text("name"),
        channel=values.text("channel", 20),
        mailbox=values.text("mailbox", 320),
        sender=values.text("sender", 320),
        keywords=tuple(values.items("keywords", 100, MAX_KEYWORDS)),
        team=values.optional("team"),
        category=values.optional("category", 500),
        priority=values.optional("priority", 20),
        tags=tuple(values.items("tags", 100, MAX_TAGS, sep=",")),
        enabled=values.flag("enabled"),
        position=int(position) if position is not None else None,
    )


def add_routing_rule(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    desk.add_routing_rule(actor, _rule(values))
    return "added"


def change_routing_rule(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    desk.change_routing_rule(actor, ids["rule_id"], _rule(values))
    return "changed"


def remove_routing_rule(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    desk.remove_routing_rule(actor, ids["rule_id"])
    return "removed"


def add_webhook(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    desk.add_webhook(
        actor,
        values.text("url", 2000),
        values.checked("events", 40, len(EVENTS)),
        values.text("secret", 1000, strip=False),
        priorities=values.checked("priority", 20, 10),
        category=values.optional("category", 500),
        include_internal=values.flag("include_internal"),
    )
    return "added"


def remove_webhook(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    desk.remove_webhook(actor, ids["webhook_id"])
    return "removed"


def create_token(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    view, token = desk.create_token(actor, values.text("email", 320), values.text("name"))
    return {"created": view, "token": token}


def revoke_token(desk: Desk, actor: Actor, values: Values, ids: Ids) -> Outcome:
    desk.revoke_token(actor, ids["token_id"])
    return "revoked"


ACTIONS: Sequence[Action] = (
    Action("/admin/people", "people", "add_person", add_person),
    Action("/admin/people/change", "people", "change_person", change_person),
    Action("/admin/people/password", "people", "set_password", set_password),
    Action("/admin/teams", "teams", "add_team", add_team),
    Action("/admin/teams/lead", "teams", "team_lead", set_team_lead),
    Action("/admin/categories", "categories", "add_category", add_category),
    Action("/admin/fields", "fields", "define_field", define_field),
    Action("/admin/sla", "sla", "add_policy", add_sla_policy),
    Action("/admin/sla/{policy_id:int}", "sla", "change_policy", change_sla_policy),
    Action("/admin/sla/{policy_id:int}/remove", "sla", "remove_policy", remove_sla_policy),
    Action("/admin/routing", "routing", "add_rule", add_routing_rule),
    Action("/admin/routing/{rule_id:int}", "routing", "change_rule", change_routing_rule),
    Action("/admin/routing/{rule_id:int}/remove", "routing", "remove_rule", remove_routing_rule),
    Action("/admin/webhooks", "webhooks", "add_webhook", add_webhook),
    Action("/admin/webhooks/{webhook_id:int}/remove", "webhooks", "remove_webhook", remove_webhook),
    Action("/admin/tokens", "tokens", "create_token", create_token),
    Action("/admin/tokens/{token_id:int}/revoke", "tokens", "revoke_token", revoke_token),
)
