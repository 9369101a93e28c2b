"""Automation rules over the API: admins keep them, staff read them, try them and read
what they did.

A rule's body is the rule's JSON as admins write it (README, "Automation rules"),
taken as it comes and checked whole by the core, which names the part at fault
(``conditions.all[1].op``, ``actions[0].template``) in a 422 and stores nothing.
Each endpoint calls one desk method; who may do what is the desk's rule.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from pydantic import AfterValidator, BaseModel, Field

from bot.automation.dry_run import MAX_TICKETS
from bot.automation.runs import RunView
from bot.desk.facade import Desk
from bot.errors import UserError
from bot.model import Actor
from bot.read.queries import TicketFilter
from bot.rules.durations import since_of
from bot.views import to_jsonable
from channels.http.auth import CurrentActor, CurrentDesk
from channels.http.config_routes import ERRORS
from channels.http.schemas import Str, Strict, no_nul

router = APIRouter(responses=ERRORS)
RowId = Annotated[int, Field(ge=1, le=2**31 - 1)]
# The core's outcomes (bot.automation.runs.OUTCOMES), spelled out for the OpenAPI document.
Outcome = Literal["applied", "dry_run", "failed", "skipped"]

EXAMPLE = {
    "name": "Urgent network tickets to Network",
    "trigger": {"on": "ticket_created"},
    "conditions": {
        "all": [
            {"field": "priority", "op": "is", "value": "urgent"},
            {"field": "category", "op": "is", "value": "Network"},
        ]
    },
    "actions": [{"do": "set_team", "value": "Network"}],
}
RULE_HELP = (
    "The rule as JSON: `name`, `position`, `enabled`, `mode` (`live` or `dry_run`), `stop`, "
    "`trigger`, `conditions` (`all`, `any`), `actions` and `match_all`. The core checks it whole "
    "and names the part at fault (`conditions.all[1].op`)."
)
RuleBody = Annotated[
    dict[str, Any],
    Body(description=RULE_HELP, openapi_examples={"route": {"summary": "Place a ticket", "value": EXAMPLE}}),
]


# -- bodies ------------------------------------------------------------------------------


class AutomationRunsOut(BaseModel):
    applied: int
    dry_run: int
    failed: int
    skipped: int


class AutomationConditionsOut(BaseModel):
    all: list[dict[str, Any]]
    any: list[dict[str, Any]]


class AutomationOut(BaseModel):
    id: int
    name: str
    position: int
    enabled: bool
    mode: Literal["live", "dry_run"]
    stop: bool
    trigger: dict[str, Any]
    conditions: AutomationConditionsOut
    actions: list[dict[str, Any]]
    match_all: bool
    created_at: datetime
    updated_at: datetime
    runs: AutomationRunsOut = Field(description="How many runs of each outcome the log holds.")
    problem: str | None = Field(
        default=None,
        description="Why an enabled rule is not running (it names a custom field since removed).",
    )


class AutomationPatch(Strict):
    enabled: bool | None = None
    mode: Literal["live", "dry_run"] | None = Field(
        default=None, description="`dry_run`: evaluated on live events, its actions only logged."
    )
    position: int | None = Field(default=None, ge=0, le=2**31 - 1, description="Lower runs first.")


class TicketFilterIn(Strict):
    """Which stored tickets to try the rule on, as the ticket list filters them."""

    status: Str | None = Field(default=None, max_length=30)
    priority: Str | None = Field(default=None, max_length=20)
    assignee: Str | None = Field(default=None, max_length=320, description="Email, or `none`.")
    requester: Str | None = Field(default=None, max_length=320)
    tag: Str | None = Field(default=None, max_length=100)
    category: Str | None = Field(default=None, max_length=500)
    team: Str | None = Field(default=None, max_length=200)
    sla_status: Str | None = Field(default=None, max_length=20)
    text: Str | None = Field(default=None, max_length=1000, description="Words searched in the tickets.")

    def ticket_filter(self) -> TicketFilter:
        return TicketFilter(**self.model_dump())


class AutomationTestIn(Strict):
    rule: dict[str, Any] | None = Field(default=None, description="A new or changed rule: " + RULE_HELP)
    rule_id: RowId | None = Field(default=None, description="A stored rule, enabled or not.")
    since: Str | None = Field(
        default=None,
        max_length=50,
        description="`30d`, `12h` (that long ago) or an ISO date and time; default: 30 days ago.",
    )
    filter: TicketFilterIn | None = None
    limit: int = Field(default=MAX_TICKETS, ge=1, le=MAX_TICKETS, description="At most this many tickets.")


class AutomationTestMatchOut(BaseModel):
    ticket: str
    trigger: str
    at: datetime | None = Field(description="The event it would have run on; null: none recorded.")
    changes: list[dict[str, Any]] = Field(description="What each action would change, before and after.")
    note: str | None
    subject: str = Field(description="The ticket's subject.")


class AutomationTestOut(BaseModel):
    rule: dict[str, Any] = Field(description="The rule as it was tried.")
    since: datetime
    examined: int
    matched: int
    truncated: bool = Field(description="More tickets or matches than shown.")
    matches: list[AutomationTestMatchOut]


class AutomationRunOut(BaseModel):
    id: int
    rule_id: int
    rule: str = Field(description="The rule's name when it ran.")
    ticket: str | None
    trigger: str
    outcome: Outcome
    changes: list[dict[str, Any]]
    reason: str | None
    depth: int = Field(description="0: run on the originating event; 1 and up: on a rule's change.")
    at: datetime
    subject: str | None = Field(default=None, description="The ticket's subject, while it exists.")


class AutomationLogOut(BaseModel):
    items: list[AutomationRunOut]
    next: int | None = Field(description="Pass as `before` for the next page; null: this is the last.")


# -- rules -------------------------------------------------------------------------------


@router.get("/automations", tags=["configuration"], response_model=list[AutomationOut])
def list_automations(actor: CurrentActor, desk: CurrentDesk) -> list[dict[str, Any]]:
    """Staff: every rule in the order they run, disabled ones included, with their run counts."""
    return desk.list_automations(actor)


@router.post("/automations", tags=["configuration"], status_code=201, response_model=AutomationOut)
def add_automation(body: RuleBody, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """Admins. Without a position the rule runs after the others; every process runs it
    from its next transaction."""
    return desk.add_automation(actor, body)


@router.post("/automations/test", tags=["configuration"], response_model=AutomationTestOut)
def test_automation(body: AutomationTestIn, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """Staff: which stored tickets a new or stored rule would match (on their recorded
    events since ``since``), and what each of its actions would change. Nothing is written."""
    rule: dict[str, Any] | int
    if body.rule is not None and body.rule_id is None:
        rule = body.rule
    elif body.rule_id is not None and body.rule is None:
        rule = body.rule_id
    else:
        raise UserError("give either a rule or a rule_id", field="rule")
    report = desk.test_automation(
        actor,
        rule,
        since=since_of(body.since, desk.clock.now()),
        filters=body.filter.ticket_filter() if body.filter is not None else None,
        limit=body.limit,
    )
    out: dict[str, Any] = to_jsonable(report)
    return out


# The log's filters, shared by the whole log and one rule's.
TicketQuery = Annotated[
    str | None, Query(max_length=50, description="A ticket's number"), AfterValidator(no_nul)
]
BeforeQuery = Annotated[int | None, Query(ge=1, le=2**31 - 1, description="`next` of the page before")]
LimitQuery = Annotated[int, Query(ge=1, le=500)]


@router.get("/automations/log", tags=["configuration"], response_model=AutomationLogOut)
def automation_log(
    actor: CurrentActor,
    desk: CurrentDesk,
    rule: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="A rule's id")] = None,
    ticket: TicketQuery = None,
    outcome: Outcome | None = None,
    before: BeforeQuery = None,
    limit: LimitQuery = 50,
) -> dict[str, Any]:
    """Staff: what the rules did, newest first: each run's ticket, trigger, outcome, and the
    changes it made (before and after) or why it made none."""
    return _log(desk, actor, rule, ticket, outcome, before, limit)


@router.get("/automations/{rule_id}", tags=["configuration"], response_model=AutomationOut)
def get_automation(rule_id: RowId, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """Staff."""
    return desk.get_automation(actor, rule_id)


@router.put("/automations/{rule_id}", tags=["configuration"], response_model=AutomationOut)
def change_automation(
    rule_id: RowId, body: RuleBody, actor: CurrentActor, desk: CurrentDesk
) -> dict[str, Any]:
    """Admins: the whole rule is replaced; without a position it keeps its place."""
    return desk.change_automation(actor, rule_id, body)


@router.patch("/automations/{rule_id}", tags=["configuration"], response_model=AutomationOut)
def patch_automation(
    rule_id: RowId, body: AutomationPatch, actor: CurrentActor, desk: CurrentDesk
) -> dict[str, Any]:
    """Admins: enable or disable a rule, switch it between live and dry-run, or move it."""
    if body.enabled is None and body.mode is None and body.position is None:
        raise UserError("give enabled, mode or position", field="body")
    return desk.patch_automation(actor, rule_id, enabled=body.enabled, mode=body.mode, position=body.position)


@router.delete("/automations/{rule_id}", tags=["configuration"], response_model=AutomationOut)
def remove_automation(rule_id: RowId, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """Admins. Its log stays: what it did is still on record."""
    return desk.remove_automation(actor, rule_id)


@router.get("/automations/{rule_id}/log", tags=["configuration"], response_model=AutomationLogOut)
def one_automation_log(
    rule_id: RowId,
    actor: CurrentActor,
    desk: CurrentDesk,
    ticket: TicketQuery = None,
    outcome: Outcome | None = None,
    before: BeforeQuery = None,
    limit: LimitQuery = 50,
) -> dict[str, Any]:
    """Staff: one rule's runs, newest first (a removed rule's too, by its old id)."""
    return _log(desk, actor, rule_id, ticket, outcome, before, limit)


# -- helpers -----------------------------------------------------------------------------


def _log(
    desk: Desk,
    actor: Actor,
    rule_id: int | None,
    ticket: str | None,
    outcome: str | None,
    before: int | None,
    limit: int,
) -> dict[str, Any]:
    try:
        runs: list[RunView] = desk.automation_log(
            actor, rule_id=rule_id, ticket=ticket, outcome=outcome, before_id=before, limit=limit
        )
    except UserError as error:
        if type(error) is UserError and error.field == "number":  # the ticket, as this API calls it
            raise UserError(error.message, field="ticket") from None
        raise
    return {
        "items": to_jsonable(runs),
        "next": runs[-1].id if len(runs) == limit else None,
    }
