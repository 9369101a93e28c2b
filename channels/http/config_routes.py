"""Configuration over the API: categories, custom fields, people (admins change them, agents
read them) and the SLA report; SLA policies and routing rules are in
:mod:`channels.http.rules_routes`. Each endpoint calls one desk method; who may do what
is the desk's rule.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel, Field

from bot.model import FieldType, Role
from bot.read.reports import MAX_DAYS, rounded
from bot.views import to_jsonable
from channels.http.auth import CurrentActor, CurrentDesk
from channels.http.schemas import ErrorOut, Str, Strict, no_nul

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 422, 503)
}
router = APIRouter(responses=ERRORS)


def _no_nul_inside(value: Any) -> Any:
    """Options are stored as JSON, which PostgreSQL refuses with NUL in any key or string."""
    if isinstance(value, str):
        no_nul(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul_inside(key)
            _no_nul_inside(item)
    elif isinstance(value, list):
        for item in value:
            _no_nul_inside(item)
    return value


# -- bodies ------------------------------------------------------------------------------


class CategoryIn(Strict):
    path: Str = Field(min_length=1, max_length=500, description="`Network/VPN` adds VPN under Network.")
    team: Str | None = Field(default=None, max_length=200)


class CategoryOut(BaseModel):
    path: str
    parent: str | None
    team: str | None


class FieldIn(Strict):
    key: Str = Field(min_length=1, max_length=100)
    label: Str = Field(default="", max_length=200)
    type: FieldType
    options: Annotated[dict[str, Any] | None, AfterValidator(_no_nul_inside)] = None
    required: bool = False


class FieldOut(BaseModel):
    key: str
    label: str
    type: str
    required: bool
    options: dict[str, Any] | None


class PersonIn(Strict):
    email: Str = Field(min_length=1, max_length=320)
    name: Str = Field(default="", max_length=200)
    role: Role = Role.REQUESTER
    team: Str | None = Field(default=None, max_length=200)


class PersonOut(BaseModel):
    id: int
    email: str | None
    name: str
    role: str
    team: str | None
    slack_user_id: str | None


# Written out in full, not inherited: a base model's fields would come first in the JSON.
class ReportRowOut(BaseModel):
    group: str
    tickets: int
    resolved: int
    sla_compliance_pct: float | None
    first_response_mean_h: float | None
    first_response_median_h: float | None
    resolution_mean_h: float | None
    resolution_median_h: float | None
    escalations: int


class WeekRowOut(BaseModel):
    week: str
    starts: str
    tickets: int
    sla_compliance_pct: float | None


class PeriodRowOut(BaseModel):
    period: str = Field(description="`2026-03-02` (a day) or `2026-W10` (an ISO week), in UTC")
    starts: str = Field(description="Its first day")
    tickets: int
    resolved: int
    sla_compliance_pct: float | None
    first_response_mean_h: float | None
    first_response_median_h: float | None
    resolution_mean_h: float | None
    resolution_median_h: float | None
    escalations: int


class SlaReportOut(BaseModel):
    since: str
    until: str
    by: str | None
    rows: list[ReportRowOut]
    weeks: list[WeekRowOut] = Field(description="Volume and compliance per ISO week, whatever `period`.")
    period: Literal["day", "week"]
    periods: list[PeriodRowOut] = Field(
        description="Every day or ISO week of the report, empty ones too, with all the figures of a row."
    )


# -- categories and fields ---------------------------------------------------------------


@router.get("/categories", tags=["configuration"], response_model=list[CategoryOut])
def list_categories(actor: CurrentActor, desk: CurrentDesk) -> list[dict[str, Any]]:
    """Every category by path, with its parent's path and the team its tickets go to."""
    return [_category(row) for row in desk.categories_for(actor)]


@router.post("/categories", tags=["configuration"], status_code=201, response_model=CategoryOut)
def add_category(body: CategoryIn, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """Admins only; the parent category must exist first."""
    path = desk.add_category(actor, body.path, team=body.team)
    return next(_category(row) for row in desk.list_categories() if row["path"] == path)


@router.get("/fields", tags=["configuration"], response_model=list[FieldOut])
def list_fields(actor: CurrentActor, desk: CurrentDesk) -> list[dict[str, object]]:
    return desk.fields_for(actor)


@router.post("/fields", tags=["configuration"], status_code=201, response_model=FieldOut)
def define_field(body: FieldIn, actor: CurrentActor, desk: CurrentDesk) -> dict[str, object]:
    """Admins only. ``options``: ``choices`` for dropdown and multiple_choice fields,
    ``min``/``max`` for numbers, ``pattern`` for text."""
    key = desk.define_field(
        actor, body.key, body.label, body.type.value, options=body.options, required=body.required
    )
    return next(row for row in desk.list_fields() if row["key"] == key)


# -- people ------------------------------------------------------------------------------


@router.get("/people", tags=["configuration"], response_model=list[PersonOut])
def list_people(
    actor: CurrentActor, desk: CurrentDesk, role: Annotated[Role | None, Query()] = None
) -> list[dict[str, Any]]:
    """Admins only."""
    return [asdict(person) for person in desk.people_for(actor, role.value if role else None)]


@router.post("/people", tags=["configuration"], status_code=201, response_model=PersonOut)
def add_person(body: PersonIn, actor: CurrentActor, desk: CurrentDesk) -> dict[str, Any]:
    """Admins only; the team must exist."""
    person = desk.add_person(actor, body.email, name=body.name, role=body.role, team=body.team)
    return asdict(person)


# -- reports -----------------------------------------------------------------------------


@router.get("/reports/sla", tags=["reports"], response_model=SlaReportOut)
def sla_report(
    actor: CurrentActor,
    desk: CurrentDesk,
    since: Annotated[str, Query(max_length=40), AfterValidator(no_nul)] = "30d",
    by: Annotated[Literal["priority", "category", "agent", "team"] | None, Query()] = None,
    interval: Annotated[
        Literal["week"], Query(description="What `weeks` is per: always ISO weeks. See `period`.")
    ] = "week",
    period: Annotated[
        Literal["day", "week"],
        Query(description=f"What `periods` is per: days (at most {MAX_DAYS}) or ISO weeks, in UTC."),
    ] = "week",
) -> dict[str, Any]:
    """What ``supportbot report sla --format json`` prints: staff only. ``since``: ``30d``,
    ``12h``, ``4w`` or an ISO date; times in hours."""
    result = desk.report_for(actor, since, by, period)
    report: dict[str, Any] = to_jsonable(
        {
            "since": result.since,
            "until": result.until,
            "by": result.by,
            "rows": [rounded(row) for row in result.rows],
            "weeks": [rounded(week) | {"starts": week.starts.isoformat()} for week in result.weeks],
            "period": result.period,
            "periods": [rounded(row) | {"starts": row.starts.isoformat()} for row in result.series],
        }
    )
    return report


def _category(row: dict[str, object]) -> dict[str, Any]:
    path = str(row["path"])
    return {"path": path, "parent": path.rpartition("/")[0] or None, "team": row["team"]}
