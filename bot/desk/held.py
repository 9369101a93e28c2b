"""Suspended mail and the ban list, for the CLI, the API and the web desk alike; and what
the email channel asks of them (is this sender banned, this message failed again)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from bot.desk.base import DeskBase
from bot.errors import StoreUnavailable, UserError
from bot.messages import Inbound
from bot.model import Actor
from bot.people.permissions import require_admin, require_staff
from bot.policies import bans as ban_list
from bot.policies.bans import BanView
from bot.tickets import held_mail, suspension
from bot.tickets.held_mail import HeldFilter, HeldView, Released

logger = logging.getLogger(__name__)

MAX_RELEASE = 500
# A message that failed, then went through (or was never sent again), is forgotten after this.
FAILURES_KEPT = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Failure:
    """A message's failed attempt: how many so far, whether it is now set aside, and whether
    it is kept as suspended mail (what the channel may tell its sender)."""

    attempts: int
    set_aside: bool
    kept: bool


class HeldMail(DeskBase):
    # -- suspended mail --------------------------------------------------------------

    def suspended_mail(
        self, actor: Actor, held: HeldFilter | None = None, *, before_id: int | None = None, limit: int = 50
    ) -> list[HeldView]:
        require_staff(actor, "read suspended mail")
        with self.unit(write=False) as unit:
            return held_mail.listing(
                unit, held or HeldFilter(), before_id=before_id, limit=min(max(limit, 1), 500)
            )

    def suspended_counts(self, actor: Actor) -> dict[str, int]:
        require_staff(actor, "read suspended mail")
        with self.unit(write=False) as unit:
            return held_mail.counts(unit)

    def suspended_message(self, actor: Actor, held_id: int) -> HeldView:
        require_staff(actor, "read suspended mail")
        with self.unit(write=False) as unit:
            return held_mail.one(unit, held_id)

    def suspended_source(self, actor: Actor, held_id: int) -> bytes | None:
        require_staff(actor, "read suspended mail")
        with self.unit(write=False) as unit:
            return held_mail.source_of(unit, held_id)

    def release_suspended(self, actor: Actor, ids: list[int]) -> list[Released]:
        """Each message in its own transaction: one that fails again (a message that kept
        failing, released before its cause was fixed) is reported and stays held."""
        require_staff(actor, "release suspended mail")
        if len(ids) > MAX_RELEASE:
            raise UserError(f"release at most {MAX_RELEASE} messages at once", field="ids")
        results = []
        for held_id in dict.fromkeys(ids):
            try:
                results.append(self._write(partial(held_mail.release, actor=actor, held_id=held_id)))
            except UserError as error:
                results.append(Released(held_id, error=error.message))
            except StoreUnavailable:
                raise
            except Exception as error:  # noqa: BLE001 - reported per message; the others go on
                logger.exception("suspended message %s could not be released", held_id)
                results.append(Released(held_id, error=f"could not be received: {type(error).__name__}"))
        return results

    def delete_suspended(
        self, actor: Actor, ids: list[int] | None = None, held: HeldFilter | None = None, *, batch: int = 1000
    ) -> int:
        """The messages named, or every one the filter selects (in batches, one transaction each)."""
        require_staff(actor, "delete suspended mail")
        if ids is not None:
            return self._write(lambda u: held_mail.delete_held(u, actor, ids[:10_000], None, 10_000))
        done = self._batches(
            lambda u: held_mail.delete_held(u, actor, None, held, batch), lambda n: n >= batch
        )
        return sum(done)

    def prune_suspended(self, batch: int = 5_000) -> int:
        """Forget suspended mail older than ``[email] suspended_retention_days`` (0 keeps it),
        and counts of failures that stopped failing a week ago; how many messages went."""
        days = self.settings.email.suspended_retention_days
        now = self.clock.now()
        self._write(lambda u: held_mail.forget_failures(u, now - FAILURES_KEPT, batch))
        if not days:
            return 0
        before = now - timedelta(days=days)
        return sum(self._batches(lambda u: held_mail.prune(u, before, batch), lambda n: n >= batch))

    # -- the ban list ----------------------------------------------------------------

    def bans(self, actor: Actor) -> list[BanView]:
        require_admin(actor, "read the ban list")
        with self.unit(write=False) as unit:
            return ban_list.listing(unit)

    def ban_sender(self, actor: Actor, pattern: str, note: str = "") -> BanView:
        ban = self._write(lambda u: ban_list.add(u, actor, pattern, note))
        self._reread_rules()
        return ban

    def unban_sender(self, actor: Actor, pattern_or_id: str) -> BanView:
        ban = self._write(lambda u: ban_list.remove(u, actor, pattern_or_id))
        self._reread_rules()
        return ban

    def _reread_rules(self) -> None:
        """After the commit: this process's checks that read no store (RCPT) see the change now;
        other processes see it with their next message."""
        with self.unit(write=False) as unit:
            unit.rules  # noqa: B018 - read for its effect on the shared rule book

    # -- for the email channel -------------------------------------------------------

    def refuses_sender(self, address: str | None) -> bool:
        """Whether mail from this address is refused outright (a ban, when the policy is to
        refuse): SMTP answers RCPT with ``550 5.7.1`` before the message is sent at all.

        Costs no query: it asks the ban list this process last read, which every message
        refreshes. It may lag a ban made by another process until this one's next message;
        the message itself is checked against the store's list when it arrives.
        """
        if not address or self.settings.email.banned_action != "refuse":
            return False
        rules = self.book.latest()
        return rules is not None and suspension.banned_by(rules.bans, address) is not None

    def mail_failed(self, inbound: Inbound | None, key: str, via: str, error: str) -> Failure:
        """Count a failed attempt at a message. On its last, it is set aside, and kept as
        suspended mail when the channel could read it (``inbound``) and the store takes it.

        Three transactions, so the count stands whatever keeping the message meets.
        Raises ``StoreUnavailable`` when even the count cannot be written.
        """
        attempts = self._write(lambda u: held_mail.count_failure(u, key, via, error))
        if attempts < self.settings.email.max_attempts:
            return Failure(attempts, set_aside=False, kept=False)
        self._write(lambda u: held_mail.give_up(u, key))
        kept = False
        if inbound is not None:
            try:
                self._write(lambda u: held_mail.keep_failed(u, inbound, via, error))
                kept = True
            except Exception:  # noqa: BLE001 - the raw message stays with the sender or the mailbox
                logger.exception("message %s failed every attempt and could not be kept either", key)
        return Failure(attempts, set_aside=True, kept=kept)

    def mail_set_aside(self) -> dict[str, int]:
        """For /metrics: messages set aside after failing every attempt, by smtp / imap."""
        with self.unit(write=False) as unit:
            return held_mail.set_aside_counts(unit)
