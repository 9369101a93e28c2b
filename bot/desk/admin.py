"""The desk's administration: people, teams, categories, custom fields, notification
preferences, API tokens, webhook subscriptions, SLA policies and routing rules, and the
configuration in force as the API shows it. Admins change these; who may read what is
checked here or in the core.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.audit import log as audit
from bot.audit.kinds import AuditKind
from bot.automation import routing_rules
from bot.automation.routing_rules import RuleInput
from bot.desk.base import DeskBase
from bot.errors import UserError
from bot.model import Actor, Role
from bot.notify import webhooks
from bot.people import directory, prefs, tokens
from bot.people.permissions import require_admin, require_staff
from bot.policies import sla as sla_overrides
from bot.read import queries
from bot.sla.settings import SlaPolicyOverride
from bot.tickets import changes as tickets
from bot.unit import Unit
from bot.views import PersonView


class Administration(DeskBase):
    """Kept apart from the ticket work so neither facade grows into everything."""

    def set_team_lead(self, actor: Actor, team: str, email: str | None) -> str:
        return self._write(lambda u: directory.set_team_lead(u, actor, team, email))

    def preferences(self, email: str) -> dict[str, str]:
        with self.unit(write=False) as unit:
            return prefs.preferences(unit, email)

    def set_preference(self, actor: Actor, email: str, event: str, channels: str) -> dict[str, str]:
        return self._write(lambda u: prefs.set_preference(u, actor, email, event, channels))

    # -- configuration over the HTTP API (agents read, admins write) ------------------

    def categories_for(self, actor: Actor) -> list[dict[str, object]]:
        require_staff(actor, "read the categories")
        return self.list_categories()

    def fields_for(self, actor: Actor) -> list[dict[str, object]]:
        require_staff(actor, "read the custom fields")
        return self.list_fields()

    def people_for(self, actor: Actor, role: str | None = None) -> list[PersonView]:
        require_admin(actor, "list people")
        return self.list_people(role)

    def sla_configuration(self, actor: Actor) -> dict[str, Any]:
        """The default targets, every SLA policy in force (file and API) and the ladder."""
        with self.unit(write=False) as unit:
            return sla_overrides.configuration(unit, actor)

    def add_sla_policy(self, actor: Actor, entry: SlaPolicyOverride) -> dict[str, Any]:
        return self._write(lambda u: sla_overrides.add(u, actor, entry))

    def change_sla_policy(self, actor: Actor, policy_id: int, entry: SlaPolicyOverride) -> dict[str, Any]:
        return self._write(lambda u: sla_overrides.change(u, actor, policy_id, entry))

    def remove_sla_policy(self, actor: Actor, policy_id: int) -> dict[str, Any]:
        return self._write(lambda u: sla_overrides.remove(u, actor, policy_id))

    def routing_configuration(self, actor: Actor) -> dict[str, Any]:
        """How new tickets are placed and assigned: the rules, each mailbox's defaults, the strategy."""
        with self.unit(write=False) as unit:
            rules = routing_rules.list_rules(unit, actor)
        return {
            "assignment": self.settings.routing.assignment,
            "default_priority": self.settings.default_priority,
            "mailboxes": [
                {
                    "address": mailbox.address,
                    "team": mailbox.team or None,
                    "category": mailbox.category or None,
                    "priority": mailbox.priority or None,
                }
                for mailbox in self.settings.mailboxes
            ],
            "rules": rules,
        }

    def list_routing_rules(self, actor: Actor) -> list[dict[str, Any]]:
        with self.unit(write=False) as unit:
            return routing_rules.list_rules(unit, actor)

    def add_routing_rule(self, actor: Actor, rule: RuleInput) -> dict[str, Any]:
        return self._write(lambda u: routing_rules.add(u, actor, rule))

    def change_routing_rule(self, actor: Actor, rule_id: int, rule: RuleInput) -> dict[str, Any]:
        return self._write(lambda u: routing_rules.change(u, actor, rule_id, rule))

    def remove_routing_rule(self, actor: Actor, rule_id: int) -> dict[str, Any]:
        return self._write(lambda u: routing_rules.remove(u, actor, rule_id))

    # -- API tokens ------------------------------------------------------------------

    def create_token(self, actor: Actor, email: str, name: str = "") -> tuple[tokens.TokenView, str]:
        return self._write(lambda u: tokens.create(u, actor, email, name))

    def authenticate(self, token: str) -> Actor:
        with self.unit(write=False) as unit:
            return tokens.authenticate(unit, token)

    def revoke_token(self, actor: Actor, token_id: int) -> tokens.TokenView:
        return self._write(lambda u: tokens.revoke(u, actor, token_id))

    def list_tokens(self, email: str | None = None) -> list[tokens.TokenView]:
        with self.unit(write=False) as unit:
            return tokens.list_tokens(unit, email)

    # -- webhooks (admins) ----------------------------------------------------------------

    def add_webhook(
        self,
        actor: Actor,
        url: str,
        events: Sequence[str],
        secret: str,
        *,
        priorities: Sequence[str] = (),
        category: str | None = None,
        include_internal: bool = False,
    ) -> webhooks.SubscriptionView:
        return self._write(
            lambda u: webhooks.subscribe(
                u,
                actor,
                url,
                list(events),
                secret,
                priorities=list(priorities),
                category=category,
                include_internal=include_internal,
            )
        )

    def remove_webhook(self, actor: Actor, subscription_id: int) -> webhooks.SubscriptionView:
        return self._write(lambda u: webhooks.unsubscribe(u, actor, subscription_id))

    def list_webhooks(self, actor: Actor) -> list[webhooks.SubscriptionView]:
        with self.unit(write=False) as unit:
            return webhooks.subscriptions(unit, actor)

    def webhook_target(self, subscription_id: int) -> webhooks.Target | None:
        """Where the webhook sender delivers, with the secret it signs with (None: removed)."""
        with self.unit(write=False) as unit:
            return webhooks.target(unit, subscription_id)

    def webhook_deliveries(
        self, actor: Actor, subscription_id: int | None = None, limit: int = 100
    ) -> list[webhooks.DeliveryView]:
        with self.unit(write=False) as unit:
            return webhooks.deliveries(unit, actor, subscription_id, limit)

    # -- reference data ----------------------------------------------------------------

    def add_person(
        self,
        actor: Actor,
        email: str,
        *,
        name: str = "",
        role: Role = Role.REQUESTER,
        team: str | None = None,
        slack_user_id: str | None = None,
    ) -> PersonView:
        return self._write(
            lambda u: PersonView.of(
                directory.add_person(
                    u, actor, email=email, name=name, role=role, team=team, slack_user_id=slack_user_id
                )
            )
        )

    def update_person(
        self,
        actor: Actor,
        email: str,
        *,
        name: str | None = None,
        role: Role | None = None,
        team: str | None = None,
    ) -> PersonView:
        return self._write(
            lambda u: PersonView.of(directory.update_person(u, actor, email, name=name, role=role, team=team))
        )

    def add_team(self, actor: Actor, name: str) -> str:
        return self._write(lambda u: directory.add_team(u, actor, name).name)

    def add_category(self, actor: Actor, path: str, *, team: str | None = None) -> str:
        return self._write(lambda u: directory.add_category(u, actor, path, team=team).path)

    def define_field(
        self,
        actor: Actor,
        key: str,
        label: str,
        kind: str,
        *,
        options: dict[str, Any] | None = None,
        required: bool = False,
    ) -> str:
        return self._write(
            lambda u: (
                directory.define_field(
                    u, actor, key=key, label=label, kind=kind, options=options, required=required
                ).key
            )
        )

    # -- reading the directory ---------------------------------------------------------

    def list_people(self, role: str | None = None) -> list[PersonView]:
        with self.unit(write=False) as unit:
            return queries.list_people(unit, role)

    def list_teams(self) -> list[dict[str, object]]:
        with self.unit(write=False) as unit:
            return queries.list_teams(unit)

    def list_categories(self) -> list[dict[str, object]]:
        with self.unit(write=False) as unit:
            return queries.list_categories(unit)

    def list_fields(self) -> list[dict[str, object]]:
        with self.unit(write=False) as unit:
            return queries.list_fields(unit)

    # -- access to the API ----------------------------------------------------------------

    def record_api_access(
        self,
        actor: Actor | None,
        number: str | None,
        method: str,
        path: str,
        status: int,
        *,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """One API request in the audit log, on its ticket if ``number`` names one; ``details``
        (the source address of an anonymous one, say) are kept with it."""

        def work(u: Unit) -> None:
            ticket_id: int | None = None
            if number is not None:
                try:
                    ticket_id = tickets.get(u, number, lock=False).id
                except UserError:  # a malformed or unknown number: the request is still on record
                    ticket_id = None
            audit.record(
                u,
                ticket_id=ticket_id,
                actor=actor or Actor(None, "anonymous", Role.REQUESTER),
                kind=AuditKind.API_REQUEST,
                after={"method": method, "path": path[:500], "status": status, **(details or {})},
            )

        self._write(work)
