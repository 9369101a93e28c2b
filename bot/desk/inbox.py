"""Messages coming in and who sends them: receiving, bounces, chat users, chat threads."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from sqlalchemy import exc

from bot.desk.base import DeskBase
from bot.desk.group_commit import GroupCommit
from bot.messages import Identity, Inbound, Receipt
from bot.model import Actor, Role, format_number
from bot.notify import outbox
from bot.people import directory
from bot.store import tables as t
from bot.tickets import intake, threads

logger = logging.getLogger(__name__)
_MAKING = threading.Lock()  # a desk's group commit is made once


class Inbox(DeskBase):
    """What every channel's adapter calls when something arrives."""

    @property
    def grouped_receive(self) -> GroupCommit[Inbound, Receipt]:
        """Made on first use, once per desk whichever threads ask first."""
        group: GroupCommit[Inbound, Receipt] | None = self.__dict__.get("_grouped_receive")
        if group is None:
            with _MAKING:
                group = self.__dict__.get("_grouped_receive")
                if group is None:
                    group = self.__dict__["_grouped_receive"] = self._new_group()
        return group

    def _new_group(self) -> GroupCommit[Inbound, Receipt]:
        return GroupCommit(
            self.receive_together, self.receive_alone, limit=self.settings.database.group_commit
        )

    def receive(self, inbound: Inbound) -> Receipt:
        """Idempotent on ``(channel, key)``: a message seen before returns its first receipt.

        Messages arriving at once from several threads share a transaction
        (:mod:`bot.desk.group_commit`); each caller returns only after the commit
        that holds its message.
        """
        return self.grouped_receive.submit(inbound)

    def receive_together(self, inbounds: Sequence[Inbound]) -> list[Receipt]:
        """Several messages in one transaction: all are stored or none (the caller tries each
        alone on an error). A key seen twice in the batch is its first message's duplicate."""
        with self.unit() as unit:
            return [intake.receive(unit, inbound) for inbound in inbounds]

    def receive_alone(self, inbound: Inbound) -> Receipt:
        """One message in its own transaction.

        Two processes receiving the same key at once race on a unique index;
        the loser's transaction rolls back whole and it reports the winner's
        ticket, so nothing is stored twice or half.
        """
        try:
            return self._write(lambda unit: intake.receive(unit, inbound))
        except exc.IntegrityError:
            with self.unit(write=False) as unit:
                duplicate = intake.find_duplicate(unit, inbound)
            if duplicate is None:
                raise
            return duplicate

    def record_bounce(self, message_ids: Sequence[str], recipients: Sequence[str], detail: str) -> int:
        """How many sent notifications a delivery report marked as bounced."""
        with self.store.transaction() as session:
            marked = outbox.mark_bounced(session, message_ids, recipients, detail)
        logger.info(
            "bounce for %s (%s): %d notification(s) marked", ", ".join(recipients) or "?", detail, marked
        )
        return marked

    def actor(self, email: str | None) -> Actor:
        """The person acting, by email; ``None`` is an operator at the console."""
        if email is None:
            return Actor.console()
        with self.unit(write=False) as unit:
            person = directory.find_person(unit, email)
            return Actor(person.id, person.email or email, Role(person.role))

    def identify(self, identity: Identity) -> Actor:
        """The person behind a chat user, created as a requester the first time they act.

        Read first: a known person costs no write, which keeps a slash command's
        answer fast while the store is busy.
        """
        with self.unit(write=False) as unit:
            known = directory.known_person(unit, identity)
            if known is not None:
                return _actor_of(known)
        return self._write(lambda u: _actor_of(directory.ensure_person(u, identity)))

    # -- chat threads --------------------------------------------------------------

    def thread_root(self, ticket_id: int, channel: str, conversation: str) -> str | None:
        """Where a sender posts the ticket's messages in that conversation (None: start one)."""
        with self.unit(write=False) as unit:
            return threads.root(unit.session, ticket_id, channel, conversation)

    def remember_thread(self, ticket_id: int, channel: str, external_id: str) -> None:
        """A sender posted a message for the ticket: replies to it now thread there."""
        with self.unit() as unit:
            threads.remember(unit.session, unit.now, ticket_id, channel, external_id)

    def knows_message(self, channel: str, external_id: str) -> bool:
        """Whether a message is a ticket's (a thread root we posted or a message we took in)."""
        with self.unit(write=False) as unit:
            return threads.ticket_of(unit.session, channel, external_id) is not None

    def ticket_of_root(self, channel: str, conversation: str, message: str) -> str | None:
        """The ticket whose thread root (its card) this chat message is, as its number."""
        with self.unit(write=False) as unit:
            found = threads.ticket_of(unit.session, channel, threads.chat_id(conversation, message))
            if found is None or threads.root(unit.session, found, channel, conversation) != message:
                return None
            return format_number(self.settings.ticket_prefix, found)


def _actor_of(person: t.Person) -> Actor:
    return Actor(person.id, person.email or person.slack_user_id or f"person {person.id}", Role(person.role))
