"""Managing ticket sharing over the API: agreements (admins) and a ticket's shares (agents).

The protocol itself (what partners call) is :mod:`channels.sharing`, under
its own base path; these are our people's endpoints, with API tokens and the
same errors as the rest of ``/api/v1``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from bot.sharing.service import Sharing
from channels.http.auth import CurrentActor
from channels.http.schemas import ErrorOut, Str, Strict

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 422, 503)
}
router = APIRouter(tags=["sharing"], responses=ERRORS)


def sharing_of(request: Request) -> Sharing:
    sharing: Sharing = request.app.state.sharing
    return sharing


CurrentSharing = Annotated[Sharing, Depends(sharing_of)]


class InviteIn(Strict):
    url: Str = Field(
        min_length=1,
        max_length=2000,
        description="The partner's sharing URL, e.g. https://acme.zendesk.com/sharing",
    )
    sync_tags: bool = True
    sync_custom_fields: bool = False
    allows_public_comments: bool = Field(
        default=True, description="false: the partner's comments on our tickets are stored as internal notes"
    )


class AgreementOut(BaseModel):
    id: int
    uuid: str
    side: Literal["sender", "receiver"] = Field(description="ours: sender when we invited")
    partner: str
    partner_url: str
    status: Literal["pending", "accepting", "accepted", "declined", "inactive"] = Field(
        description="accepting: we accepted, the sender has not confirmed it yet"
    )
    deactivated_by: str | None
    sync_tags: bool
    sync_custom_fields: bool
    allows_public_comments: bool
    shared_tickets: int
    delivery_error: str | None = Field(description="the last request to the partner that failed for good")
    invited_from: str | None = Field(description="the client address an invitation we received came from")
    created_at: datetime
    updated_at: datetime


class ShareIn(Strict):
    agreement: int = Field(ge=1, le=2**31 - 1)


class ShareOut(BaseModel):
    agreement: int
    partner: str
    ticket: str
    uuid: str
    side: Literal["sharer", "receiver"]
    detached_at: datetime | None


AgreementId = Annotated[int, Field(ge=1, le=2**31 - 1)]


@router.get("/sharing/agreements", response_model=list[AgreementOut])
def list_agreements(actor: CurrentActor, sharing: CurrentSharing) -> list[dict[str, Any]]:
    """Admins only: invitations we sent and received, and where each stands."""
    return [asdict(view) for view in sharing.agreements(actor)]


@router.post("/sharing/agreements", status_code=201, response_model=AgreementOut)
def invite(body: InviteIn, actor: CurrentActor, sharing: CurrentSharing) -> dict[str, Any]:
    """Admins only. The invitation is sent to the partner in the background; it stays
    ``pending`` until they accept, and ``delivery_error`` says if it could not be delivered."""
    view = sharing.invite(
        actor,
        body.url,
        sync_tags=body.sync_tags,
        sync_custom_fields=body.sync_custom_fields,
        allows_public_comments=body.allows_public_comments,
    )
    return asdict(view)


@router.get("/sharing/agreements/{agreement_id}", response_model=AgreementOut)
def get_agreement(agreement_id: AgreementId, actor: CurrentActor, sharing: CurrentSharing) -> dict[str, Any]:
    return asdict(sharing.agreement(actor, agreement_id))


@router.post("/sharing/agreements/{agreement_id}/{action}", response_model=AgreementOut)
def answer(
    agreement_id: AgreementId,
    action: Literal["accept", "decline", "deactivate"],
    actor: CurrentActor,
    sharing: CurrentSharing,
) -> dict[str, Any]:
    """Admins only: accept or decline an invitation we received; deactivate an accepted agreement
    (either side; it cannot be reactivated: invite again)."""
    status = {"accept": "accepted", "decline": "declined", "deactivate": "inactive"}[action]
    return asdict(sharing.answer(actor, agreement_id, status))


class ClearedOut(BaseModel):
    dismissed: int = Field(description="how many unanswered invitations were dropped")


@router.delete("/sharing/invitations/{agreement_id}", response_model=AgreementOut)
def dismiss_invitation(
    agreement_id: AgreementId, actor: CurrentActor, sharing: CurrentSharing
) -> dict[str, Any]:
    """Admins only: drop an invitation we received and have not answered, without telling the
    sender (409 for any other agreement). Its last state is returned."""
    return asdict(sharing.dismiss(actor, agreement_id))


@router.delete("/sharing/invitations", response_model=ClearedOut)
def clear_invitations(actor: CurrentActor, sharing: CurrentSharing) -> dict[str, int]:
    """Admins only: drop every invitation we received and have not answered; the senders are
    not told, and may invite again."""
    return {"dismissed": sharing.clear_invitations(actor)}


@router.get("/tickets/{number}/shares", response_model=list[ShareOut])
def list_shares(number: str, actor: CurrentActor, sharing: CurrentSharing) -> list[dict[str, Any]]:
    """Agents: the help desks this ticket is shared with, or came from."""
    return [asdict(view) for view in sharing.shares(actor, number)]


@router.post("/tickets/{number}/shares", status_code=201, response_model=ShareOut)
def share(number: str, body: ShareIn, actor: CurrentActor, sharing: CurrentSharing) -> dict[str, Any]:
    """Agents: send the ticket with its public comments to the partner of an accepted agreement
    we sent; from then on comments and status changes flow both ways."""
    return asdict(sharing.share(actor, number, body.agreement))


@router.delete("/tickets/{number}/shares/{agreement_id}", response_model=ShareOut)
def unshare(
    number: str, agreement_id: AgreementId, actor: CurrentActor, sharing: CurrentSharing
) -> dict[str, Any]:
    """Agents: stop syncing; the partner keeps its copy of the ticket."""
    return asdict(sharing.unshare(actor, number, agreement_id))
