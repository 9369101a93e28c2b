"""SLA policies and routing rules over the API: agents read them, admins write them.

What the settings file sets stays there and is shown with ``source: settings``;
what admins store here is layered on top, holds in every process from its next
transaction, and is in the audit log. Each endpoint calls one desk method.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from bot.automation.routing_rules import CHANNELS, MAX_KEYWORDS, MAX_TAGS, RuleInput
from bot.sla.settings import SlaPolicyOverride
from channels.http.auth import CurrentActor, CurrentDesk
from channels.http.config_routes import ERRORS
from channels.http.schemas import Str, Strict

router = APIRouter(responses=ERRORS)
RowId = Annotated[int, Field(ge=1, le=2**31 - 1)]
_DURATION = "`90s`, `15m`, `4h` or `2d`."


# -- SLA policies ------------------------------------------------------------------------


class SlaPolicyIn(Strict):
    category: Str = Field(
        default="",
        max_length=400,
        description="A category path; empty: every category (then name a priority).",
    )
    priority: Str = Field(default="", max_length=20, description="Empty: every priority in the category.")
    first_response: Str = Field(min_length=1, max_length=20, description=_DURATION)
    resolution: Str = Field(min_length=1, max_length=20, description=_DURATION)
    timezone: Str = Field(default="", max_length=100, description="IANA name; empty: the default policy's.")
    business_hours: Str = Field(
        default="",
        max_length=500,
        description="`mon-fri 09:00-17:00; sat 10:00-14:00`; empty: the default policy's.",
    )
    holiday_country: Str = Field(default="", max_length=10, description="ISO code such as `DE`.")
    holidays: Str = Field(
        default="", max_length=2000, description="Extra closed days, ISO dates, comma-separated."
    )

    def entry(self) -> SlaPolicyOverride:
        return SlaPolicyOverride(**self.model_dump())


class TargetsOut(BaseModel):
    first_response_seconds: int
    resolution_seconds: int


class DefaultPolicyOut(BaseModel):
    timezone: str
    business_hours: str | None = Field(description="null: around the clock")
    at_risk_percent: int
    targets: dict[str, TargetsOut] = Field(description="By priority.")


class SlaPolicyOut(TargetsOut):
    id: int | None = Field(description="null for a policy from the settings file")
    source: Literal["settings", "api"]
    category: str = Field(description="empty: every category")
    priority: str | None = Field(description="null: every priority in the category")
    first_response: str
    resolution: str
    timezone: str
    business_hours: str | None
    holiday_country: str | None
    holidays: str | None


class LevelOut(BaseModel):
    level: int
    at: str = Field(description="`70%` of the target, `4h` after opening, `2h after customer`")
    notify: list[str]
    raise_priority: bool
    reassign_team: str | None


class SlaPoliciesOut(BaseModel):
    default: DefaultPolicyOut
    overrides: list[SlaPolicyOut] = Field(description="Every policy in force; the most specific one applies.")
    escalation_levels: list[LevelOut] = Field(description="From the settings file.")


@router.get("/sla/policies", tags=["configuration"], response_model=SlaPoliciesOut)
def sla_policies(actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """Staff. The default targets and ladder come from the settings file; policies from
    the file and from this API are listed together, each with its ``source``."""
    return desk.sla_configuration(actor)


@router.post("/sla/policies", tags=["configuration"], status_code=201, response_model=SlaPolicyOut)
def add_sla_policy(body: SlaPolicyIn, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """Admins. It replaces the settings file's policy for the same category and priority;
    a second stored one for them is a 409. Unfinished tickets are re-timed at the next sweep."""
    return desk.add_sla_policy(actor, body.entry())


@router.put("/sla/policies/{policy_id}", tags=["configuration"], response_model=SlaPolicyOut)
def change_sla_policy(
    policy_id: RowId, body: SlaPolicyIn, actor: CurrentActor, desk: CurrentDesk
) -> dict[str, Any]:
    """Admins: the whole policy is replaced."""
    return desk.change_sla_policy(actor, policy_id, body.entry())


@router.delete("/sla/policies/{policy_id}", tags=["configuration"], response_model=SlaPolicyOut)
def remove_sla_policy(policy_id: RowId, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """Admins. The settings file's policy for the same category and priority, if any, holds again."""
    return desk.remove_sla_policy(actor, policy_id)


# -- routing -----------------------------------------------------------------------------


class ConditionsIn(Strict):
    channel: Str | None = Field(default=None, max_length=20, description=f"One of {', '.join(CHANNELS)}.")
    mailbox: Str | None = Field(
        default=None, max_length=320, description="The support address it was sent to."
    )
    sender: Str | None = Field(
        default=None, max_length=320, description="An address, or `@example.com` for a whole domain."
    )
    keywords: list[Annotated[Str, Field(max_length=100)]] = Field(
        default_factory=list,
        max_length=MAX_KEYWORDS,
        description="Any of these words or phrases (whole words, any case) in the subject or first message.",
    )


class ActionsIn(Strict):
    team: Str | None = Field(default=None, max_length=200)
    category: Str | None = Field(
        default=None, max_length=500, description="Brings its team when `team` is empty."
    )
    priority: Str | None = Field(default=None, max_length=20)
    tags: list[Annotated[Str, Field(max_length=100)]] = Field(default_factory=list, max_length=MAX_TAGS)


class RoutingRuleIn(Strict):
    name: Str = Field(min_length=1, max_length=200)
    position: int | None = Field(
        default=None, ge=0, le=2**31 - 1, description="Lower is tried first; omitted: after the others."
    )
    enabled: bool = True
    conditions: ConditionsIn = Field(
        default_factory=ConditionsIn, description="All must hold; none: every ticket."
    )
    actions: ActionsIn

    def rule(self) -> RuleInput:
        when, then = self.conditions, self.actions
        return RuleInput(
            name=self.name,
            channel=when.channel or "",
            mailbox=when.mailbox or "",
            sender=when.sender or "",
            keywords=tuple(when.keywords),
            team=then.team,
            category=then.category,
            priority=then.priority,
            tags=tuple(then.tags),
            enabled=self.enabled,
            position=self.position,
        )


class ConditionsOut(BaseModel):
    channel: str | None
    mailbox: str | None
    sender: str | None
    keywords: list[str]


class ActionsOut(BaseModel):
    team: str | None
    category: str | None
    priority: str | None
    tags: list[str]


class RoutingRuleOut(BaseModel):
    id: int
    name: str
    position: int
    enabled: bool
    conditions: ConditionsOut
    actions: ActionsOut


class MailboxOut(BaseModel):
    address: str
    team: str | None
    category: str | None
    priority: str | None


class RoutingOut(BaseModel):
    assignment: str = Field(description="From the settings file: round_robin, least_loaded or none.")
    default_priority: str
    mailboxes: list[MailboxOut] = Field(description="Each support address's defaults (settings file).")
    rules: list[RoutingRuleOut] = Field(
        description="Tried in order on every new ticket; the first match wins."
    )


@router.get("/routing", tags=["configuration"], response_model=RoutingOut)
def routing(actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """Staff: how a new ticket is placed (rules, then the mailbox's defaults) and assigned."""
    return desk.routing_configuration(actor)


@router.get("/routing/rules", tags=["configuration"], response_model=list[RoutingRuleOut])
def list_routing_rules(actor: CurrentActor, desk: CurrentDesk) -> list[dict[str, Any]]:
    """Staff: every rule in the order they are tried, disabled ones included."""
    return desk.list_routing_rules(actor)


@router.post("/routing/rules", tags=["configuration"], status_code=201, response_model=RoutingRuleOut)
def add_routing_rule(body: RoutingRuleIn, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """Admins. A rule sets a team, category, priority or tags on the tickets it matches,
    over the channel's defaults and the requester's choices."""
    return desk.add_routing_rule(actor, body.rule())


@router.put("/routing/rules/{rule_id}", tags=["configuration"], response_model=RoutingRuleOut)
def change_routing_rule(
    rule_id: RowId, body: RoutingRuleIn, actor: CurrentActor, desk: CurrentDesk
) -> dict[str, Any]:
    """Admins: the whole rule is replaced; without a position it keeps its place."""
    return desk.change_routing_rule(actor, rule_id, body.rule())


@router.delete("/routing/rules/{rule_id}", tags=["configuration"], response_model=RoutingRuleOut)
def remove_routing_rule(rule_id: RowId, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """Admins. Tickets it placed keep their team, category and tags."""
    return desk.remove_routing_rule(actor, rule_id)
