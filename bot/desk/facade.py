"""The desk: the one object channels call, made of one facade per concern.

Each method is one transaction: it changes the ticket, appends audit events
and publishes what happened (:mod:`bot.events`), whose subscribers queue the
notifications; then it commits. Nothing is sent inside it. Methods are
synchronous; an asyncio channel runs them with ``asyncio.to_thread``.
"""

from __future__ import annotations

from bot.desk.admin import Administration
from bot.desk.automations import Automations
from bot.desk.changes import Changes
from bot.desk.held import HeldMail
from bot.desk.inbox import Inbox
from bot.desk.jobs import TimedJobs
from bot.desk.reading import Reading
from bot.desk.sign_in import SignIn


class Desk(Inbox, Changes, Reading, TimedJobs, Administration, Automations, SignIn, HeldMail):
    """Messages in (:class:`Inbox`), people's changes (:class:`Changes`), reading back
    (:class:`Reading`), the scheduler's jobs (:class:`TimedJobs`) and administration
    (:class:`Administration`), automation rules (:class:`Automations`), signing in to the web
    desk (:class:`SignIn`), suspended mail and the ban list (:class:`HeldMail`), over one
    store, clock, settings and set of subscribers."""
