"""The sharing facade: one transaction per call, for the CLI, the API, the partner's requests and the outbox.

Kept apart from :class:`bot.desk.facade.Desk` so the desk does not grow a second
protocol; it works on the same store, clock, settings and rules.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from sqlalchemy import exc

from bot.desk.facade import Desk
from bot.model import Actor
from bot.people.permissions import require_admin
from bot.sharing import agreements, invitations, pending, received, shared, statuses, sync
from bot.sharing.agreements import AgreementView, Partner
from bot.sharing.shared import ShareView
from bot.unit import Unit

T = TypeVar("T")


class Sharing:
    def __init__(self, desk: Desk) -> None:
        """Subscribes the sync to the desk's events, so every change made through this desk
        reaches the partners (``channels.bootstrap.build`` builds one beside every desk).
        The status tables are checked again here for desks built by hand; the command line
        checks them as the settings load, before anything is opened."""
        statuses.check_tables(desk.settings.sharing.status_in, desk.settings.sharing.status_out)
        self.desk = desk
        self.settings = desk.settings
        sync.subscribe(desk.subscribers)

    def unit(self, *, write: bool = True) -> AbstractContextManager[Unit]:
        """The desk's own unit of work: the same store, clock, settings, rules and subscribers."""
        return self.desk.unit(write=write)

    def _write(self, work: Callable[[Unit], T]) -> T:
        """Two copies of one request racing (a partner's retry) meet on a unique index:
        the loser runs again and finds what the winner stored."""
        for attempt in range(2):
            try:
                with self.unit() as unit:
                    return work(unit)
            except exc.IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    # -- our side ----------------------------------------------------------------------------

    def invite(
        self,
        actor: Actor,
        url: str,
        *,
        sync_tags: bool = True,
        sync_custom_fields: bool = False,
        allows_public_comments: bool = True,
    ) -> AgreementView:
        return self._write(
            lambda u: agreements.invite(
                u,
                actor,
                url,
                sync_tags=sync_tags,
                sync_custom_fields=sync_custom_fields,
                allows_public_comments=allows_public_comments,
            )
        )

    def answer(self, actor: Actor, agreement_id: int, status: str) -> AgreementView:
        return self._write(lambda u: agreements.answer(u, actor, agreement_id, status))

    def dismiss(self, actor: Actor, agreement_id: int) -> AgreementView:
        """Drop an invitation we received and did not answer; the sender is not told."""

        def work(unit: Unit) -> AgreementView:
            require_admin(actor, "dismiss sharing invitations")
            view = agreements.agreement(unit, actor, agreement_id)
            pending.dismiss(unit, actor, agreement_id)
            return view

        return self._write(work)

    def clear_invitations(self, actor: Actor) -> int:
        """Drop every invitation we received and did not answer; how many."""
        return self._write(lambda u: pending.clear(u, actor))

    def agreements(self, actor: Actor) -> list[AgreementView]:
        with self.unit(write=False) as unit:
            return agreements.agreements(unit, actor)

    def agreement(self, actor: Actor, agreement_id: int) -> AgreementView:
        with self.unit(write=False) as unit:
            return agreements.agreement(unit, actor, agreement_id)

    def share(self, actor: Actor, number: str, agreement_id: int) -> ShareView:
        return self._write(lambda u: shared.share(u, actor, number, agreement_id))

    def unshare(self, actor: Actor, number: str, agreement_id: int) -> ShareView:
        return self._write(lambda u: shared.unshare(u, actor, number, agreement_id))

    def shares(self, actor: Actor, number: str) -> list[ShareView]:
        with self.unit(write=False) as unit:
            return shared.shares(unit, actor, number)

    # -- for the outbox's client ------------------------------------------------------------

    def partner(self, agreement_id: int) -> Partner | None:
        with self.unit(write=False) as unit:
            return agreements.partner(unit, agreement_id)

    def wire_status(self, ticket_id: int) -> str | None:
        with self.unit(write=False) as unit:
            return sync.wire_status(unit, ticket_id)

    def confirm(self, agreement_id: int, taken: bool, detail: str = "") -> None:
        self._write(lambda u: agreements.confirm(u, agreement_id, taken, detail))

    # -- the partner's requests (raise ProtocolError with the status to answer) ----------------

    def receive_invitation(
        self, token: str | None, uuid: str, body: object, source: str | None = None
    ) -> bool:
        return self._write(lambda u: invitations.receive_invitation(u, token, uuid, body, source))

    def check_token(self, token: str | None, agreement_uuid: str | None = None) -> None:
        """Raise the protocol's refusal (401, 403, 404, 410) for a token that opens nothing here.

        The endpoints ask before they read a body, so only a partner can make them read
        megabytes; the call itself checks the token again in its own transaction. With
        ``agreement_uuid``: a change to that agreement (in any status); without: a ticket
        request, which needs an agreement in force."""
        with self.unit(write=False) as unit:
            if agreement_uuid is None:
                invitations.authenticate(unit, token)
            else:
                invitations.read(unit, token, agreement_uuid)

    def change_agreement(self, token: str | None, uuid: str, body: object) -> None:
        self._write(lambda u: invitations.receive_change(u, token, uuid, body))

    def read_agreement(self, token: str | None, uuid: str) -> dict[str, Any]:
        with self.unit(write=False) as unit:
            return invitations.read(unit, token, uuid)

    def receive_ticket(self, token: str | None, uuid: str, body: object) -> bool:
        return self._write(
            lambda u: received.receive_share(u, invitations.authenticate(u, token), uuid, body)
        )

    def update_ticket(self, token: str | None, uuid: str, body: object) -> None:
        self._write(lambda u: received.receive_update(u, invitations.authenticate(u, token), uuid, body))

    def unshare_ticket(self, token: str | None, uuid: str) -> None:
        self._write(lambda u: received.receive_unshare(u, invitations.authenticate(u, token), uuid))

    def read_ticket(self, token: str | None, uuid: str) -> dict[str, Any]:
        with self.unit(write=False) as unit:
            return received.read(unit, invitations.authenticate(unit, token), uuid)
