"""Keeping rules: what a rule names is checked when it goes into action, never when it is
taken out of it."""

from __future__ import annotations

import pytest

from bot.desk.facade import Desk
from bot.errors import UserError
from bot.model import Actor

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
