"""The desk's administration: people, teams, categories, custom fields, notification
preferences, API tokens and webhook subscriptions, and the configuration in force as
the API shows it. Admins change these; who may read what is checked here or in the core.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot import directory, prefs, queries, tokens, webhooks
from bot.desk_base import DeskBase
from bot.model import Actor, Role
from bot.permissions import require_admin, require_staff
from bot.sla_policy import Policies
from bot.views import PersonView


class Administration(DeskBase):
    """Kept apart from the ticket work so neither facade grows into everything."""

    def set_team_lead(self, actor: Actor, team: str, email: str | None) -> str:
        return self._write(lambda u: directory.set_team_lead(u, actor, team, email))

    def preferences(self, email: str) -> dict[str, str]:
        with self._unit(write=False) as unit:
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
        """The SLA policies in force and the escalation ladder, as the settings file set them
        (parsed: targets in seconds). Configuration, so read-only here."""
        require_staff(actor, "read the SLA policies")
        sla = self.settings.sla
        policies = self.rules.policies
        default = {
            priority.value: {
                "first_response_seconds": policy.targets.first_response_seconds,
                "resolution_seconds": policy.targets.resolution_seconds,
            }
            for priority, policy in policies.default.items()
        }
        overrides = []
        for entry in self.settings.sla_policies:
            # Built alone, in the settings' order: the desk's own rules are sorted by specificity.
            rule = Policies(sla, [entry]).rules[0]
            overrides.append(
                {
                    "category": entry.category.strip(),
                    "priority": rule.priority,
                    "first_response_seconds": rule.policy.targets.first_response_seconds,
                    "resolution_seconds": rule.policy.targets.resolution_seconds,
                    "timezone": entry.timezone or sla.timezone,
                    "business_hours": entry.business_hours or sla.business_hours or None,
                }
            )
        ladder = [
            {
                "level": level.number,
                "at": entry.at,
                "notify": list(level.notify),
                "raise_priority": level.raise_priority,
                "reassign_team": level.reassign_team or None,
            }
            for level, entry in zip(self.rules.ladder, self.settings.escalation_levels, strict=True)
        ]
        return {
            "default": {
                "timezone": sla.timezone,
                "business_hours": sla.business_hours or None,
                "at_risk_percent": sla.at_risk_percent,
                "targets": default,
            },
            "overrides": overrides,
            "escalation_levels": ladder,
        }

    def routing_configuration(self, actor: Actor) -> dict[str, Any]:
        """How new tickets are assigned and what each mailbox's tickets start with."""
        require_staff(actor, "read the routing")
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
        }

    # -- API tokens ------------------------------------------------------------------

    def create_token(self, actor: Actor, email: str, name: str = "") -> tuple[tokens.TokenView, str]:
        return self._write(lambda u: tokens.create(u, actor, email, name))

    def authenticate(self, token: str) -> Actor:
        with self._unit(write=False) as unit:
            return tokens.authenticate(unit, token)

    def revoke_token(self, actor: Actor, token_id: int) -> tokens.TokenView:
        return self._write(lambda u: tokens.revoke(u, actor, token_id))

    def list_tokens(self, email: str | None = None) -> list[tokens.TokenView]:
        with self._unit(write=False) as unit:
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
        with self._unit(write=False) as unit:
            return webhooks.subscriptions(unit, actor)

    def webhook_target(self, subscription_id: int) -> webhooks.Target | None:
        """Where the webhook sender delivers, with the secret it signs with (None: removed)."""
        with self._unit(write=False) as unit:
            return webhooks.target(unit, subscription_id)

    def webhook_deliveries(
        self, actor: Actor, subscription_id: int | None = None, limit: int = 100
    ) -> list[webhooks.DeliveryView]:
        with self._unit(write=False) as unit:
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
        with self._unit(write=False) as unit:
            return queries.list_people(unit, role)

    def list_teams(self) -> list[dict[str, object]]:
        with self._unit(write=False) as unit:
            return queries.list_teams(unit)

    def list_categories(self) -> list[dict[str, object]]:
        with self._unit(write=False) as unit:
            return queries.list_categories(unit)

    def list_fields(self) -> list[dict[str, object]]:
        with self._unit(write=False) as unit:
            return queries.list_fields(unit)
