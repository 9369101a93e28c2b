"""Keeping rules: what a rule names is checked when it goes into action, never when it is
taken out of it."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from bot.desk.facade import Desk
from bot.errors import UserError
from bot.model import Actor
from bot.store import tables as t
from bot.store.db import Store

CALL_HOOK = {
    "name": "Tell the CRM about urgent tickets",
    "trigger": {"on": "ticket_created"},
    "conditions": {"all": [{"field": "priority", "op": "is", "value": "urgent"}]},
    "actions": [{"do": "call_webhook", "subscription": 0}],
}


def test_a_rule_whose_webhook_was_removed_can_still_be_switched_off(desk: Desk, admin: Actor) -> None:
    hook = desk.add_webhook(admin, "https://crm.example.com/hook", ["ticket.created"], "s" * 32)
    rule = desk.add_automation(
        admin, {**CALL_HOOK, "actions": [{"do": "call_webhook", "subscription": hook.id}]}
    )
    desk.remove_webhook(admin, hook.id)

    assert desk.patch_automation(admin, rule["id"], mode="dry_run")["mode"] == "dry_run"
    assert desk.patch_automation(admin, rule["id"], enabled=False)["enabled"] is False
    with pytest.raises(UserError) as refused:
        desk.patch_automation(admin, rule["id"], enabled=True)
    assert refused.value.field == "actions[0].subscription"
    assert desk.get_automation(admin, rule["id"])["enabled"] is False


def test_a_rule_whose_field_was_removed_is_listed_as_not_running(
    desk: Desk, admin: Actor, store: Store
) -> None:
    desk.define_field(admin, "tier", "Tier", "dropdown", options={"choices": ["gold", "silver"]})
    rule = desk.add_automation(
        admin,
        {
            "name": "Gold first",
            "trigger": {"on": "ticket_created"},
            "conditions": {"all": [{"field": "field.tier", "op": "is", "value": "gold"}]},
            "actions": [{"do": "set_priority", "value": "high"}],
        },
    )
    assert desk.get_automation(admin, rule["id"])["problem"] is None
    with store.transaction() as session:  # the desk keeps field definitions; a DBA removes one
        session.execute(delete(t.CustomField).where(t.CustomField.key == "tier"))
        session.execute(
            t.JobMark.__table__.update()
            .where(t.JobMark.name == "rule_book_version")
            .values(value=t.JobMark.value + 1)
        )
    [listed] = desk.list_automations(admin)
    assert listed["problem"] is not None and "field.tier" in listed["problem"]
