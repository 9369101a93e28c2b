"""Changes people make to tickets: comments, status, assignee, classification, merge,
escalation and files; each method one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import exc

from bot.desk.base import DeskBase
from bot.messages import IncomingFile
from bot.model import Actor, Priority, Status
from bot.read import queries, retries
from bot.tickets import attachments, classify
from bot.tickets import changes as tickets
from bot.tickets.classify import TicketChanges
from bot.unit import Unit
from bot.views import AttachmentView, CommentView, TicketView


class Changes(DeskBase):
    """Each answers with the ticket (or comment) as it is after the change."""

    def comment(
        self,
        actor: Actor,
        number: str,
        body: str,
        *,
        public: bool = True,
        channel: str = "cli",
        external_id: str | None = None,
        files: Sequence[IncomingFile] = (),
    ) -> CommentView:
        """The comment written, with the ticket it landed on (a merged ticket's survivor).

        ``channel`` is where it was written (the console unless the caller says). With
        ``external_id`` (a request's own key) a retry answers with the comment the first
        one wrote and writes nothing. Two at once race on the thread refs' unique index:
        the loser's transaction rolls back whole and it answers with the winner's.
        ``files`` go on the comment itself, all or none (``TooLarge`` over the limits).
        """

        def work(u: Unit) -> CommentView:
            if external_id is not None:
                earlier = retries.earlier_comment(
                    u, number, body, public=public, channel=channel, external_id=external_id
                )
                if earlier is not None:
                    return earlier
            ticket, written = tickets.comment(
                u, actor, number, body, public=public, channel=channel, external_id=external_id
            )
            kept = attachments.keep_all(u, ticket, written, files) if files else []
            views = [AttachmentView.of(row) for row in kept]
            return queries.comment_view(written, self.settings.ticket_prefix, views)

        try:
            return self._write(work)
        except exc.IntegrityError:
            if external_id is None:
                raise
            with self.unit(write=False) as unit:
                earlier = retries.earlier_comment(
                    unit, number, body, public=public, channel=channel, external_id=external_id
                )
            if earlier is None:
                raise
            return earlier

    def transition(self, actor: Actor, number: str, status: Status) -> TicketView:
        return self._write(lambda u: queries.ticket_view(u, tickets.transition(u, actor, number, status)))

    def assign(self, actor: Actor, number: str, email: str | None) -> TicketView:
        return self._write(lambda u: queries.ticket_view(u, tickets.assign(u, actor, number, email)))

    def assign_person(self, actor: Actor, number: str, person_id: int | None) -> TicketView:
        """Assign by person id, for people a chat knows without an email address."""
        return self._write(
            lambda u: queries.ticket_view(u, tickets.assign_person(u, actor, number, person_id))
        )

    def set_priority(self, actor: Actor, number: str, priority: Priority) -> TicketView:
        return self._write(
            lambda u: queries.ticket_view(u, classify.set_priority(u, actor, number, priority))
        )

    def set_category(self, actor: Actor, number: str, path: str | None) -> TicketView:
        return self._write(lambda u: queries.ticket_view(u, classify.set_category(u, actor, number, path)))

    def set_team(self, actor: Actor, number: str, team: str | None) -> TicketView:
        return self._write(lambda u: queries.ticket_view(u, classify.set_team(u, actor, number, team)))

    def set_tags(
        self, actor: Actor, number: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> TicketView:
        return self._write(
            lambda u: queries.ticket_view(u, classify.set_tags(u, actor, number, add=add, remove=remove))
        )

    def set_field(self, actor: Actor, number: str, key: str, value: Any) -> TicketView:
        return self._write(lambda u: queries.ticket_view(u, classify.set_field(u, actor, number, key, value)))

    def update(self, actor: Actor, number: str, changes: TicketChanges) -> TicketView:
        """All of ``changes`` in one transaction: one refused change leaves the others unwritten."""
        return self._write(lambda u: queries.ticket_view(u, classify.update(u, actor, number, changes)))

    def change_ticket(
        self,
        actor: Actor,
        number: str,
        changes: TicketChanges,
        *,
        status: Status | None = None,
        assign: bool = False,
        assignee: str | None = None,
    ) -> TicketView:
        """Classification, assignee (``assign``: set it to ``assignee``, None unassigns) and
        status in one transaction: one refused change leaves the others unwritten."""

        def work(u: Unit) -> TicketView:
            ticket = classify.update(u, actor, number, changes)
            if assign:
                ticket = tickets.assign(u, actor, number, assignee)
            if status is not None:
                ticket = tickets.transition(u, actor, number, status)
            return queries.ticket_view(u, ticket)

        return self._write(work)

    def merge(self, actor: Actor, source: str, target: str) -> TicketView:
        return self._write(lambda u: queries.ticket_view(u, tickets.merge(u, actor, source, target)))

    def escalate(self, actor: Actor, number: str, reason: str) -> TicketView:
        return self._write(lambda u: queries.ticket_view(u, tickets.escalate(u, actor, number, reason)))

    def attach_file(
        self,
        actor: Actor,
        number: str,
        file: IncomingFile,
        text: str = "",
        *,
        public: bool = True,
        channel: str = "api",
    ) -> attachments.StoredFile:
        """A comment carrying one file; ``TooLarge`` over the configured limits, nothing written."""
        return self._write(
            lambda u: attachments.attach(u, actor, number, file, text, public=public, channel=channel)
        )
