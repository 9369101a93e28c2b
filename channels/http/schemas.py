"""The API's request and response bodies, as the OpenAPI document shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

TEXT = 100_000


def no_nul(value: str | None) -> str | None:
    """PostgreSQL cannot store NUL characters; say so instead of failing at the store."""
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Every string the API takes in.
Str = Annotated[str, AfterValidator(no_nul)]


def no_nul_anywhere(value: dict[str, Any]) -> dict[str, Any]:
    """Custom field values are free-form JSON: keys and nested strings are checked too."""

    def check(item: Any) -> None:
        if isinstance(item, str):
            no_nul(item)
        elif isinstance(item, list):
            for element in item:
                check(element)
        elif isinstance(item, dict):
            for key, element in item.items():
                check(key)
                check(element)

    check(value)
    return value


FieldValues = Annotated[dict[str, Any], AfterValidator(no_nul_anywhere)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TicketIn(Strict):
    subject: Str = Field(min_length=1, max_length=1000)
    description: Str = Field(default="", max_length=TEXT)
    priority: Str | None = Field(default=None, max_length=20)
    category: Str | None = Field(default=None, max_length=500)
    requester: Str | None = Field(
        default=None, max_length=320, description="Email; agents may open a ticket for someone else."
    )
    fields: FieldValues = Field(default_factory=dict)


class TicketPatch(Strict):
    status: Str | None = Field(default=None, max_length=30)
    priority: Str | None = Field(default=None, max_length=20)
    assignee: Str | None = Field(default=None, max_length=320, description="Email; null unassigns.")
    category: Str | None = Field(default=None, max_length=500, description="Path; null clears it.")
    team: Str | None = Field(
        default=None,
        max_length=200,
        description="A team's name: the ticket moves there (an assignee outside it lets go); null clears it.",
    )
    add_tags: list[Str] = Field(default_factory=list, max_length=100)
    remove_tags: list[Str] = Field(default_factory=list, max_length=100)
    fields: FieldValues = Field(default_factory=dict)


class MergeIn(Strict):
    into: Str = Field(min_length=1, max_length=50)


class EscalateIn(Strict):
    reason: Str = Field(min_length=1, max_length=2000)


class CommentIn(Strict):
    body: Str = Field(min_length=1, max_length=TEXT)
    public: bool = True


class TicketOut(BaseModel):
    id: int
    number: str
    subject: str
    description: str
    status: str
    priority: str
    channel: str
    requester: str
    assignee: str | None
    team: str | None
    category: str | None
    tags: list[str]
    custom_fields: dict[str, Any]
    merged_into: str | None
    created_at: datetime
    updated_at: datetime
    sla_status: str | None
    first_response_due: datetime | None
    resolution_due: datetime | None
    escalation_level: int
    expired_at: datetime | None


class TicketPage(BaseModel):
    items: list[TicketOut]
    next_cursor: str | None


class AttachmentOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str


class CommentOut(BaseModel):
    id: int
    author: str | None
    body: str
    public: bool
    channel: str
    created_at: datetime
    attachments: list[AttachmentOut]


class EventOut(BaseModel):
    id: int
    actor: str
    kind: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    created_at: datetime


class TicketDetailOut(BaseModel):
    ticket: TicketOut
    comments: list[CommentOut]
    events: list[EventOut]


class SlaOut(BaseModel):
    sla_status: str | None
    first_response_due: datetime | None
    resolution_due: datetime | None
    escalation_level: int


class ErrorBody(BaseModel):
    message: str
    field: str | None


class ErrorOut(BaseModel):
    error: ErrorBody
