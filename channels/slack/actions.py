"""``/ticket`` subcommands carried out on the desk, each answered with one ephemeral reply.

Desk calls are blocking store work, so each runs in a thread; the rules
(who may list, show or change what) are the core's, and a refusal comes back
as a :class:`UserError` the listener shows as one line.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from bot.config.channels import SlackSettings
from bot.desk.facade import Desk
from bot.errors import UserError
from bot.messages import Inbound
from bot.model import Actor, parse_priority, parse_status
from bot.notify.slack import SLACK
from channels.slack import blocks, commands
from channels.slack.text import escape, split_note
from channels.slack.users import SlackUsers


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


class CommandActions:
    """What each subcommand does, whether Slack sent it over HTTP or Socket Mode."""

    def __init__(self, desk: Desk, users: SlackUsers, settings: SlackSettings) -> None:
        self.desk = desk
        self.users = users
        self.settings = settings

    async def actor(self, user_id: str) -> Actor:
        identity = await self.users.identity(user_id)
        return await asyncio.to_thread(self.desk.identify, identity)

    async def run(self, command: commands.Command, user_id: str, *, key: str) -> Reply:
        """``key`` makes a new ticket idempotent (the command's trigger id)."""
        match command:
            case commands.NewTicket(subject=subject):
                return await self._new(user_id, subject, key)
            case commands.ListTickets(scope=scope):
                actor = await self.actor(user_id)
                found = await asyncio.to_thread(self.desk.tickets_for, actor, scope)
                title = {"mine": "Your open tickets", "open": "Open tickets", "all": "Recent tickets"}
                heading = title.get(scope, "Tickets")
                return Reply(f"{heading}: {len(found)}", blocks.ticket_list(found, title=heading))
            case commands.ShowTicket(number=number):
                actor = await self.actor(user_id)
                detail = await asyncio.to_thread(self.desk.visible_ticket, actor, number)
                shown = blocks.ticket_detail(detail, include_internal=actor.role.is_staff)
                return Reply(f"{detail.ticket.number}: {detail.ticket.subject}", shown)
            case commands.AssignTicket(number=number, assignee=assignee):
                return await self._assign(user_id, number, assignee)
            case commands.SetStatus(number=number, status=status):
                actor = await self.actor(user_id)
                view = await asyncio.to_thread(self.desk.transition, actor, number, parse_status(status))
                return Reply(f"{view.number} is now {blocks.status_label(view.status).lower()}.")
            case commands.SetPriority(number=number, priority=priority):
                actor = await self.actor(user_id)
                view = await asyncio.to_thread(
                    self.desk.set_priority, actor, number, parse_priority(priority)
                )
                return Reply(f"{view.number} is now {view.priority} priority.")
            case commands.AddComment(number=number, text=text):
                actor = await self.actor(user_id)
                body, internal = split_note(text, self.settings.note_prefix)
                public = not internal  # a requester's note is refused by the core, with a reason
                written = await asyncio.to_thread(
                    self.desk.comment, actor, number, body, public=public, channel=SLACK
                )
                kind = "Comment" if public else "Internal note"
                return Reply(f"{kind} added to {written.ticket_number}.")
            case commands.Escalate(number=number, reason=reason):
                actor = await self.actor(user_id)
                view = await asyncio.to_thread(self.desk.escalate, actor, number, reason)
                return Reply(f"{view.number} is escalated; the team is told.")
            case _:
                return Reply(commands.help_text(self.settings.command))

    async def _new(self, user_id: str, subject: str, key: str) -> Reply:
        identity = await self.users.identity(user_id)
        receipt = await asyncio.to_thread(
            self.desk.receive,
            Inbound(
                channel=SLACK,
                sender=identity,
                subject=subject,
                text=subject,
                key=key,
                authenticated=True,
            ),
        )
        if receipt.ticket_number is None:
            raise UserError("the ticket could not be opened")
        return Reply(
            f"Opened *{receipt.ticket_number}*: {escape(subject)}. "
            "Answers arrive in a thread of your direct messages with me; reply in that thread."
        )

    async def _assign(self, user_id: str, number: str, assignee: commands.Assignee) -> Reply:
        actor = await self.actor(user_id)
        if assignee.nobody:
            view = await asyncio.to_thread(self.desk.assign_person, actor, number, None)
            return Reply(f"{view.number} is unassigned.")
        if assignee.email:
            view = await asyncio.to_thread(self.desk.assign, actor, number, assignee.email)
        else:
            target = actor if assignee.me else await self.actor(assignee.slack_user_id or "")
            view = await asyncio.to_thread(self.desk.assign_person, actor, number, target.person_id)
        return Reply(f"{view.number} is assigned to {escape(view.assignee or 'nobody')}.")
