"""Bolt listeners: acknowledge at once, then do the work and answer.

Slack wants an answer within three seconds, so every listener acks first
(events are acked by Bolt before the listener runs) and the desk work runs
after. A message is taken in through the desk's idempotent ``receive``,
keyed by channel and ts: a retried or twice-delivered event is stored once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config.settings import Settings
from bot.desk.facade import Desk
from bot.errors import InvalidTransition, StoreUnavailable, UserError
from bot.messages import Inbound, Receipt
from bot.model import Status
from bot.notify.slack import SLACK
from channels.slack import blocks, commands
from channels.slack.actions import CommandActions, Reply
from channels.slack.inbound import is_ingested, message_inbound
from channels.slack.text import escape, first_line, to_plain
from channels.slack.users import SlackUsers

logger = logging.getLogger(__name__)
T = TypeVar("T")

NOT_A_TICKET_THREAD = "This thread is not a ticket's. Write a new message (not in a thread) to open one."
DM_OFF = "Messages here do not open tickets; use `{command} new <subject>` to open one."
NOT_SAVED = ":x: Your last message could not be saved; please send it again."
NEW_TICKET_VIEW = "new_ticket"
CREATE_TICKET_SHORTCUT = "create_ticket"
# While the store is down, a message Slack has already been told we have is
# tried again in memory this long, then the sender is asked to resend it.
STORE_RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0)

Ack = Callable[..., Awaitable[None]]
Respond = Callable[..., Awaitable[Any]]


class SlackListeners:
    """One listener per kind of Slack request; each translates, calls the desk, answers."""

    def __init__(
        self,
        desk: Desk,
        users: SlackUsers,
        settings: Settings,
        *,
        retry_delays: tuple[float, ...] = STORE_RETRY_DELAYS,
    ) -> None:
        self.desk = desk
        self.users = users
        self.settings = settings
        self.slack = settings.slack
        self.actions = CommandActions(desk, users, settings.slack)
        self.retry_delays = retry_delays

    def register(self, app: AsyncApp) -> None:
        app.command(self.slack.command)(self.on_command)
        app.event("message")(self.on_message)
        app.event("reaction_added")(self.on_reaction)
        app.event("app_home_opened")(self.on_home_opened)
        app.shortcut(CREATE_TICKET_SHORTCUT)(self.on_create_ticket)
        app.view(NEW_TICKET_VIEW)(self.on_new_ticket_submitted)
        app.error(self.on_error)

    # -- /ticket ---------------------------------------------------------------------

    async def on_command(
        self, ack: Ack, command: dict[str, Any], respond: Respond, client: AsyncWebClient
    ) -> None:
        user = command.get("user_id", "")
        try:
            parsed = commands.parse(
                command.get("text") or "", self.settings.ticket_prefix, command=self.slack.command
            )
        except commands.UsageError as error:
            await ack(text=f":warning: {error}\nUsage: {error.usage}", response_type="ephemeral")
            return
        if isinstance(parsed, commands.Help):
            await ack(text=commands.help_text(self.slack.command), response_type="ephemeral")
            return
        await ack()
        if isinstance(parsed, commands.NewTicketModal):
            await self._open_modal(client, command.get("trigger_id", ""), user, respond)
            return
        key = f"command:{command.get('trigger_id') or command.get('command_ts') or ''}"
        reply = await self._answer(lambda: self.actions.run(parsed, user, key=key), f"/ticket from {user}")
        await respond(text=reply.text, blocks=reply.blocks or None, response_type="ephemeral")

    async def _answer(self, work: Callable[[], Awaitable[Reply]], what: str) -> Reply:
        """The work's reply, or one line saying why not: whose fault it is decides the words."""
        try:
            return await work()
        except UserError as error:
            return Reply(f":warning: {escape(str(error))}")
        except StoreUnavailable as error:
            logger.warning("%s: store unavailable: %s", what, error)
            return Reply(
                ":hourglass: The help desk cannot reach its database just now; try again in a minute."
            )
        except Exception:
            logger.exception("%s failed", what)
            return Reply(":x: Something went wrong on our side; it is logged and we will look at it.")

    async def _open_modal(self, client: AsyncWebClient, trigger_id: str, user: str, respond: Respond) -> None:
        try:
            categories = await asyncio.to_thread(self.desk.list_categories)
            fields = await asyncio.to_thread(self.desk.list_fields)
            view = blocks.new_ticket_modal(
                categories=[str(row["path"]) for row in categories],
                fields=fields,
                default_priority=self.settings.default_priority,
                callback_id=NEW_TICKET_VIEW,
            )
            await client.views_open(trigger_id=trigger_id, view=view)
        except (StoreUnavailable, SlackApiError) as error:
            logger.warning("new-ticket form for %s not opened: %s", user, error)
            await respond(
                text=":hourglass: The form could not be opened; try `new <subject>` instead.",
                response_type="ephemeral",
            )

    async def on_new_ticket_submitted(
        self, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        user = body.get("user", {}).get("id", "")
        # Checked before the ack, the one exception to "ack first": Slack shows a form's
        # field errors only in the ack. It is one indexed read, well inside three seconds.
        try:
            form = blocks.parse_modal(view.get("state", {}).get("values", {}))
            checked = await asyncio.to_thread(self.desk.check_fields, form.fields)
        except UserError as error:
            block = (
                error.field
                if error.field in ("subject", "description", "priority")
                else f"field:{error.field}"
            )
            await ack(response_action="errors", errors={block: str(error)})
            return
        except StoreUnavailable:
            await ack(
                response_action="errors", errors={"subject": "The help desk is unavailable; try again."}
            )
            return
        await ack()
        identity = await self.users.identity(user)
        inbound = Inbound(
            channel=SLACK,
            sender=identity,
            authenticated=True,  # a user id from a request Slack signed
            subject=form.subject,
            text=form.description or form.subject,
            key=f"form:{view.get('id')}",
            priority=form.priority,
            category=form.category,
            fields=checked,
        )
        receipt = await self._receive(inbound)
        if receipt is None:
            await _tell(
                client, user, ":x: Your ticket could not be saved just now; please send the form again."
            )

    # -- shortcut ------------------------------------------------------------------------

    async def on_create_ticket(
        self, ack: Ack, shortcut: dict[str, Any], respond: Respond, client: AsyncWebClient
    ) -> None:
        await ack()
        message = shortcut.get("message") or {}
        channel = (shortcut.get("channel") or {}).get("id", "")
        invoker = (shortcut.get("user") or {}).get("id", "")
        ts = message.get("ts", "")
        author = message.get("user") if not message.get("bot_id") else None
        link = await _permalink(client, channel, ts)
        text = to_plain(message.get("text") or "")
        identity = await self.users.identity(author or invoker)
        submitter = await self.users.identity(invoker) if author and author != invoker else None
        inbound = Inbound(
            channel=SLACK,
            sender=identity,
            authenticated=True,  # a user id from a request Slack signed
            subject=first_line(text) or "Message from Slack",
            text="\n\n".join(part for part in (text, link) if part) or "(empty message)",
            key=f"shortcut:{channel}:{ts}",
            submitted_by=submitter,
        )
        receipt = await self._receive(inbound)
        if receipt is None:
            answer = ":hourglass: The help desk cannot reach its database just now; try again in a minute."
        elif receipt.duplicate:
            answer = f"That message is already *{receipt.ticket_number}*."
        else:
            answer = f"Opened *{receipt.ticket_number}* from <@{author or invoker}>'s message."
        await respond(text=answer, response_type="ephemeral")

    # -- events --------------------------------------------------------------------------

    async def on_message(
        self, event: dict[str, Any], context: dict[str, Any], client: AsyncWebClient
    ) -> None:
        if not is_ingested(event, context.get("bot_user_id")):
            return
        direct = event.get("channel_type") == "im"
        thread = event.get("thread_ts")
        in_thread = bool(thread) and thread != event.get("ts")
        if not direct and not in_thread:
            return  # channel chatter outside threads is none of our business
        if in_thread and not await self._known_thread(event["channel"], str(thread)):
            if direct:
                await _tell(client, event["user"], NOT_A_TICKET_THREAD, thread=str(thread))
            return  # no users.info call, no person on record for someone else's chatter
        if direct and not in_thread and not self.slack.dm_opens_ticket:
            await _tell(client, event["user"], DM_OFF.format(command=self.slack.command))
            return
        identity = await self.users.identity(event["user"])
        inbound = message_inbound(event, identity, self.slack)
        if inbound is not None and await self._receive(inbound) is None:
            await _tell(client, event["user"], NOT_SAVED)

    async def _known_thread(self, channel: str, thread: str) -> bool:
        try:
            return await asyncio.to_thread(self.desk.knows_message, SLACK, f"{channel}:{thread}")
        except StoreUnavailable:
            return True  # cannot tell: let receive wait out the outage and decide

    async def on_reaction(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        item = event.get("item") or {}
        reaction = str(event.get("reaction", "")).split("::")[0]  # drop a skin tone
        if item.get("type") != "message" or item.get("channel") != self.slack.support_channel:
            return
        if reaction not in (self.slack.resolve_reaction, self.slack.assign_reaction):
            return
        channel, ts, user = item["channel"], item.get("ts", ""), event.get("user", "")
        number = await asyncio.to_thread(self.desk.ticket_of_root, SLACK, channel, ts)
        if number is None:
            return

        async def act() -> Reply:
            actor = await self.actions.actor(user)
            if reaction == self.slack.resolve_reaction:
                try:
                    await asyncio.to_thread(self.desk.transition, actor, number, Status.RESOLVED)
                except InvalidTransition:
                    # Slack's retry of a reaction already acted on, or a second ✅: done.
                    detail = await asyncio.to_thread(self.desk.visible_ticket, actor, number)
                    if detail.ticket.status != Status.RESOLVED:
                        raise
            else:
                await asyncio.to_thread(self.desk.assign_person, actor, number, actor.person_id)
            return Reply("")

        reply = await self._answer(act, f":{reaction}: on {number} by {user}")
        if reply.text:
            try:
                await client.chat_postEphemeral(channel=channel, user=user, text=f"{number}: {reply.text}")
            except SlackApiError as error:
                logger.info("could not tell %s why %s was refused: %s", user, number, error)

    async def on_home_opened(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab") != "home":
            return
        user = event.get("user", "")
        try:
            actor = await self.actions.actor(user)
            requested = await asyncio.to_thread(self.desk.tickets_for, actor, "requested")
            assigned = (
                await asyncio.to_thread(self.desk.tickets_for, actor, "assigned")
                if actor.role.is_staff
                else []
            )
        except StoreUnavailable as error:
            logger.warning("App Home for %s not refreshed: %s", user, error)
            return
        view = blocks.home_view(requested, assigned, show_assigned=actor.role.is_staff)
        await client.views_publish(user_id=user, view=view)

    async def on_error(self, error: Exception, body: dict[str, Any]) -> None:
        kind = body.get("type") or body.get("command") or "request"
        logger.error("Slack %s failed", kind, exc_info=error)

    # -- taking messages in -----------------------------------------------------------

    async def _receive(self, inbound: Inbound) -> Receipt | None:
        """Slack already has our ack, so a store outage is ridden out here; None if it lasted."""
        for delay in (*self.retry_delays, None):
            try:
                receipt = await asyncio.to_thread(self.desk.receive, inbound)
            except StoreUnavailable as error:
                if delay is None:
                    logger.error("Slack message %s lost to a store outage: %s", inbound.key, error)
                    return None
                logger.warning(
                    "Slack message %s waits for the store (%s); again in %ss", inbound.key, error, delay
                )
                await asyncio.sleep(delay)
                continue
            except UserError as error:
                logger.warning("Slack message %s refused: %s", inbound.key, error)
                return None
            logger.info(
                "Slack message %s from %s: %s (%s)",
                inbound.key,
                inbound.sender.slack_user_id,
                receipt.ticket_number or "no ticket",
                receipt.rule,
            )
            return receipt
        return None


async def _permalink(client: AsyncWebClient, channel: str, ts: str) -> str:
    try:
        answer = await client.chat_getPermalink(channel=channel, message_ts=ts)
    except SlackApiError as error:
        logger.info("no permalink for %s:%s: %s", channel, ts, error.response.get("error"))
        return ""
    return str(answer.get("permalink") or "")


async def _tell(client: AsyncWebClient, user: str, text: str, *, thread: str | None = None) -> None:
    """A direct message from the bot, for what has no ephemeral answer (events, forms)."""
    try:
        await client.chat_postMessage(channel=user, text=text, thread_ts=thread)
    except SlackApiError as error:
        logger.warning("could not tell %s: %s", user, error.response.get("error"))
