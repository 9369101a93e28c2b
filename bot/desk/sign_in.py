"""Signing in to the web desk, for the web channel and ``supportbot people set-password``.

A failed sign-in is committed before it is raised: the failure is what the limits count,
and a rolled-back failure would let an attacker guess for ever.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import TypeVar
from urllib.parse import quote

from bot.desk.base import DeskBase
from bot.errors import TooManyAttempts, Unauthenticated
from bot.model import Actor
from bot.notify import outbox
from bot.people import sign_in
from bot.people.sign_in import SignedIn
from bot.unit import Unit

T = TypeVar("T")
PASSWORD_CHECKS_AT_ONCE = 2
PASSWORD_CHECK_WAIT_SECONDS = 5.0


class SignIn(DeskBase):
    def set_password(self, actor: Actor, email: str, password: str | None) -> None:
        self._write(lambda u: sign_in.set_password(u, actor, email, password))

    @cached_property
    def _verifying(self) -> threading.BoundedSemaphore:
        """Password checks at once in this process: each takes 64 MiB and a fifth of a second
        of CPU, so a flood of sign-ins must not take every thread the desk's callers share."""
        return threading.BoundedSemaphore(PASSWORD_CHECKS_AT_ONCE)

    def sign_in_with_password(self, email: str, password: str, client: str) -> SignedIn:
        """Three short steps, none holding a transaction while the hash is checked: count the
        attempt (committed, so it counts even if the process dies), check the password, then
        open the session and forget the attempt."""
        attempt = self._counted(lambda u: sign_in.reserve_attempt(u, email, client))
        with self.unit(write=False) as unit:
            stored = sign_in.stored_password(unit, attempt.address)
        if not self._verifying.acquire(timeout=PASSWORD_CHECK_WAIT_SECONDS):
            raise TooManyAttempts("the desk is busy checking sign-ins; try again in a moment")
        try:
            right = sign_in.verify_password(stored, password)
        finally:
            self._verifying.release()
        if not right or stored is None:
            raise Unauthenticated("that email and password do not match", field="password")
        return self._write(lambda u: sign_in.finish_password_sign_in(u, stored, attempt, password))

    def sign_in_with_link(self, token: str, client: str) -> SignedIn:
        return self._counted(lambda u: sign_in.sign_in_with_link(u, token, client))

    def sign_in_verified_email(self, email: str, name: str, agent_domains: frozenset[str]) -> SignedIn:
        return self._write(lambda u: sign_in.sign_in_verified_email(u, email, name, agent_domains))

    def request_sign_in_link(self, email: str, client: str, link_base: str, target: str = "/") -> None:
        """Mails the link (``link_base`` + token, the channel's page that spends it) through
        the outbox (in the default set-up, an .eml in the outbox folder); says nothing about
        whether the address is known."""

        def work(u: Unit) -> None:
            made = sign_in.request_link(u, email, client)
            if made is None:
                return
            token, address = made
            outbox.enqueue(
                u.session,
                now=u.now,
                channel="email",
                recipient=address,
                template="sign_in_link",
                context={
                    "subject": "Your sign-in link",
                    "link": f"{link_base}{token}"
                    + (f"?next={quote(target, safe='')}" if target != "/" else ""),
                    "minutes": int(sign_in.LINK_TTL.total_seconds() // 60),
                    "desk": self.settings.email.from_name,
                    "recipient": {"email": address},
                },
                dedupe_key=f"sign-in:{sign_in.digest(token)}",
            )

        self._counted(work)

    def session_actor(self, token: str) -> Actor | None:
        """Asked on every page: a read, and a write only every few minutes per session."""
        with self.unit(write=False) as unit:
            found = sign_in.session_actor(unit, token)
        if found is None:
            return None
        if found.touch_due:
            self._write(lambda u: sign_in.touch_session(u, found.session_id))
        return found.actor

    def sign_in_link_address(self, token: str) -> str | None:
        with self.unit(write=False) as unit:
            return sign_in.link_address(unit, token)

    def sign_out(self, token: str) -> None:
        self._write(lambda u: sign_in.end_session(u, token))

    def sweep_sign_ins(self) -> int:
        """Expired sessions, spent links and old failed attempts: housekeeping's."""
        return self._write(sign_in.sweep)

    def _counted(self, work: Callable[[Unit], T]) -> T:
        refused: Unauthenticated | None = None
        with self.unit() as unit:
            try:
                return work(unit)
            except Unauthenticated as error:
                refused = error  # leave the block normally: the failure's rows commit
        raise refused
