"""The requesters' portal: their tickets, the form that opens one, and a ticket's page with its
public conversation, a reply box, Resolve and Reopen, and its files to download.

Every form works without JavaScript; htmx only refreshes a ticket's conversation when the
page's live stream says something changed. A ticket opened here is received like any other
message (``desk.receive``, channel ``web``), so it is routed, timed and acknowledged as mail
would be. Who may see and do what is the desk's to say: someone else's ticket is answered as
a missing one, on every page and fragment here. Staff opening these pages go to the workspace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.desk.facade import Desk
from bot.errors import Forbidden, NotFound, UserError
from bot.messages import Identity, Inbound, IncomingFile
from bot.model import Actor, Priority, Status, parse_priority, parse_status
from bot.read import sorting
from bot.read.queries import TicketFilter
from bot.tickets.classify import TicketChanges
from bot.views import CommentView, TicketDetail
from channels.web import downloads, forms
from channels.web.site import Site, guarded

# Bodies of these paths may carry attachments: the server allows them max_total_bytes more.
UPLOAD_PATHS = [r"^/new$", r"^/tickets/[^/]+/reply$"]

PAGE = 25
FIELD_PREFIX = "field."
SUBJECT_MAX = 1000
TEXT_MAX = 100_000
# The form's own idempotency key: a double submit (or a retry after a lost answer) sends it
# twice, and the desk keeps one ticket (or one reply) for it.
RETRY_CONFLICT = "idempotency-key"  # bot.read.retries.KEY_FIELD: the key came with another text


@dataclass(frozen=True, slots=True)
class Choices:
    """What the new-ticket form offers: categories as (path, label, depth), field definitions."""

    categories: list[tuple[str, str, int]]
    fields: list[dict[str, Any]]


@dataclass(slots=True)
class NewTicket:
    """The form as it was sent: kept to show again beside its errors."""

    key: str
    subject: str = ""
    description: str = ""
    priority: str = ""
    category: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def routes(site: Site) -> list[BaseRoute]:
    def number_in(request: Request) -> str:
        return forms.path_number(site.settings.ticket_prefix, request)

    desk = site.desk

    async def home(request: Request) -> Response:
        viewer = await site.viewer(request)
        if viewer.actor is None:
            return site.redirect(request, "/signin")
        if viewer.is_staff:
            return site.redirect(request, "/desk")
        query = TicketFilter(
            requester_id=viewer.actor.person_id,
            limit=PAGE + 1,
            after=_after(request.query_params.get("before")),
        )
        views = await site.call(desk.list_tickets, query)
        more = views[PAGE - 1].id if len(views) > PAGE else None
        return site.page(request, "portal/home.html", {"tickets": views[:PAGE], "more": more})

    async def new_form(request: Request) -> Response:
        await site.signed_in(request)
        choices = await site.call(_choices, desk)
        return _new_page(site, request, NewTicket(key=forms.new_key()), choices)

    async def submit(request: Request) -> Response:
        viewer = await site.signed_in(request)
        actor = forms.person(viewer.actor)
        form = await site.form(request)
        try:
            choices = await site.call(_choices, desk)
            typed = _read_new(form, choices, site.settings.web.requesters_choose_priority)
            files, file_error = await forms.read_files(form, site.settings.attachments)
        finally:
            await form.close()
        if file_error:
            typed.errors[forms.FILES] = file_error
        given = {k: v for k, v in typed.values.items() if v not in ("", [], None)}
        checked, field_errors = await site.call(_check_fields, desk, given)
        typed.errors.update({FIELD_PREFIX + key: message for key, message in field_errors.items()})
        if typed.errors:
            return _new_page(site, request, _files_again(typed, files), choices, status=422)
        inbound = Inbound(
            channel="web",
            authenticated=True,  # the session's person, signed in by link, password or SSO
            sender=Identity(email=actor.label),
            subject=typed.subject,
            text=typed.description,
            key=f"web:{actor.person_id}:{typed.key}",
            priority=typed.priority or None,
            category=typed.category or None,
            fields=checked,
            attachments=tuple(files),
            new_only=True,
        )
        try:
            receipt = await site.call(desk.receive, inbound)
        except UserError as error:  # a category or priority gone since the form was shown
            typed.errors[error.field or "form"] = error.message
            return _new_page(site, request, _files_again(typed, files), choices, status=422)
        if receipt.ticket_number is None:  # receive never drops a message that may open a ticket
            raise RuntimeError(f"receive kept no ticket: {receipt.rule}")
        return site.redirect(request, f"/tickets/{receipt.ticket_number}")

    async def ticket_page(request: Request) -> Response:
        viewer = await site.signed_in(request)
        number = number_in(request)
        if viewer.is_staff:
            return site.redirect(request, f"/desk/tickets/{quote(number, safe='')}")
        return await _ticket_page(site, request, forms.person(viewer.actor), number)

    async def conversation(request: Request) -> Response:
        """The live region alone (with the facts beside it, swapped out of band)."""
        viewer = await site.signed_in(request)
        actor = forms.person(viewer.actor)
        detail, labels = await site.call(_read_ticket, desk, actor, number_in(request))
        context = _ticket_context(site, actor, detail, labels)
        return site.page(request, "portal/_conversation.html", {**context, "errors": {}, "oob": True})

    async def reply(request: Request) -> Response:
        viewer = await site.signed_in(request)
        actor = forms.person(viewer.actor)
        number = number_in(request)
        form = await site.form(request)
        try:
            body, key = _text(form, "body", TEXT_MAX), forms.kept_key(_text(form, "key", 100))
            files, file_error = await forms.read_files(form, site.settings.attachments)
        finally:
            await form.close()
        errors = {forms.FILES: file_error} if file_error else {}
        text = body if body.strip() or not files else "Attached " + ", ".join(f.filename for f in files)
        if not text.strip():
            errors["body"] = "Write a reply, or attach a file."
        if not errors:
            try:
                written = await site.call(_comment, desk, actor, number, text, key, files)
            except (NotFound, Forbidden):
                raise
            except UserError as error:
                if error.field == RETRY_CONFLICT:  # the page sent again after an edit: a new reply
                    key = forms.new_key()
                    errors["body"] = "This form was sent before. Check your reply and send it again."
                else:
                    errors[forms.FILES if error.field == forms.FILES else "body"] = error.message
            else:
                return site.redirect(request, f"/tickets/{written.ticket_number}#c{written.id}")
        if files:
            errors.setdefault(forms.FILES, "Choose the files again: a browser does not keep them.")
        extra = {"errors": errors, "reply_body": body, "reply_key": key}
        return await _ticket_page(site, request, actor, number, extra, status=422)

    async def change_status(request: Request) -> Response:
        """Resolve or reopen, as the API's PATCH does it; the desk says who may."""
        viewer = await site.signed_in(request)
        actor = forms.person(viewer.actor)
        number = number_in(request)
        form = await site.form(request)
        target = _text(form, "status", 30)
        try:
            status = parse_status(target)
            await site.call(desk.change_ticket, actor, number, TicketChanges(), status=status)
        except (NotFound, Forbidden):
            raise
        except UserError as error:
            extra = {"errors": {"status": error.message}}
            return await _ticket_page(site, request, actor, number, extra, status=422)
        return site.redirect(request, f"/tickets/{number}")

    async def download(request: Request) -> Response:
        viewer = await site.signed_in(request)
        number = number_in(request)
        file_id: int = request.path_params["file_id"]
        stored, body = await site.call(desk.open_file, forms.person(viewer.actor), number, file_id)
        return site.finish(request, downloads.download(stored, body))

    return [
        Route("/", guarded(site, home), methods=["GET"]),
        Route("/new", guarded(site, new_form), methods=["GET"]),
        Route("/new", guarded(site, submit), methods=["POST"]),
        Route("/tickets/{number}", guarded(site, ticket_page), methods=["GET"]),
        Route("/tickets/{number}/conversation", guarded(site, conversation), methods=["GET"]),
        Route("/tickets/{number}/reply", guarded(site, reply), methods=["POST"]),
        Route("/tickets/{number}/status", guarded(site, change_status), methods=["POST"]),
        Route("/tickets/{number}/files/{file_id:int}", guarded(site, download), methods=["GET"]),
    ]


# -- the ticket's page ------------------------------------------------------------------


async def _ticket_page(
    site: Site,
    request: Request,
    actor: Actor,
    number: str,
    extra: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Response:
    detail, labels = await site.call(_read_ticket, site.desk, actor, number)
    context = {
        **_ticket_context(site, actor, detail, labels),
        "errors": {},
        "reply_body": "",
        "reply_key": forms.new_key(),
        **(extra or {}),
    }
    return site.page(request, "portal/ticket.html", context, status=status)


def _read_ticket(desk: Desk, actor: Actor, number: str) -> tuple[TicketDetail, dict[str, str]]:
    """The ticket as this person may see it, and the custom fields' labels to show its values."""
    detail = desk.visible_ticket(actor, number)
    labels = {str(d["key"]): str(d.get("label") or d["key"]) for d in desk.list_fields()}
    return detail, labels


def _comment(
    desk: Desk, actor: Actor, number: str, text: str, key: str, files: Sequence[IncomingFile]
) -> CommentView:
    """A public reply with its files on one comment; the form's key makes a second send of
    the same page answer with the first reply instead of writing another."""
    external_id = f"web-comment:{actor.person_id}:{key}"
    return desk.comment(actor, number, text, public=True, channel="web", external_id=external_id, files=files)


def _ticket_context(
    site: Site, actor: Actor, detail: TicketDetail, labels: Mapping[str, str]
) -> dict[str, Any]:
    ticket = detail.ticket
    # Public, unflagged comments only, as the desk already gives requesters: a second guard,
    # since one wrong filter here would show a customer the team's internal notes.
    comments: list[CommentView] = [c for c in detail.comments if c.public and not c.flagged]
    current = Status(ticket.status)
    workflow = site.desk.workflow
    # Followers may read a ticket; its requester answers, resolves and reopens it.
    own = ticket.merged_into is None and ticket.requester.lower() == actor.label.lower()
    reopenable = current in (Status.RESOLVED, Status.CLOSED)
    return {
        "ticket": ticket,
        "comments": comments,
        "me": actor.label,
        "fields": [(labels.get(key, key), value) for key, value in sorted(ticket.custom_fields.items())],
        "may_reply": own and current is not Status.CLOSED,
        "may_resolve": own and not reopenable and workflow.allows(current, Status.RESOLVED),
        "may_reopen": own and reopenable and workflow.allows(current, Status.OPEN),
    }


# -- the new-ticket form ------------------------------------------------------------------


def _new_page(site: Site, request: Request, form: NewTicket, choices: Choices, status: int = 200) -> Response:
    limits = site.settings.attachments
    form.priority = form.priority or parse_priority(site.settings.default_priority).value
    context = {
        "form": form,
        "choices": choices,
        "priorities": [p.value for p in Priority] if site.settings.web.requesters_choose_priority else [],
        "max_bytes": limits.max_bytes,
        "max_total_bytes": limits.max_total_bytes,
    }
    return site.page(request, "portal/new.html", context, status=status)


def _choices(desk: Desk) -> Choices:
    """Categories in tree order (a parent, then its children), with how deep each is."""
    paths = sorted((str(row["path"]) for row in desk.list_categories()), key=lambda p: p.lower().split("/"))
    categories = [(p, " / ".join(p.split("/")), p.count("/")) for p in paths]
    return Choices(categories, [dict(d) for d in desk.list_fields()])


def _read_new(form: FormData, choices: Choices, choose_priority: bool) -> NewTicket:
    typed = NewTicket(
        key=forms.kept_key(_text(form, "key", 100)),
        subject=" ".join(_text(form, "subject", SUBJECT_MAX + 1).split()),
        description=_text(form, "description", TEXT_MAX + 1),
        priority=_text(form, "priority", 20) if choose_priority else "",
        category=_text(form, "category", 500),
    )
    errors = typed.errors
    if not typed.subject:
        errors["subject"] = "Give the ticket a subject."
    elif len(typed.subject) > SUBJECT_MAX:
        errors["subject"] = f"Keep the subject under {SUBJECT_MAX} characters."
    if len(typed.description) > TEXT_MAX:
        errors["description"] = (
            f"Keep the description under {TEXT_MAX:,} characters; attach longer text as a file."
        )
    if typed.priority and typed.priority not in {p.value for p in Priority}:
        errors["priority"] = "Choose a priority from the list."
    if typed.category and typed.category not in {path for path, _, _ in choices.categories}:
        errors["category"] = "Choose a category from the list."
    for definition in choices.fields:
        key = str(definition["key"])
        name = FIELD_PREFIX + key
        if definition["type"] == "multiple_choice":
            value: Any = [v for v in form.getlist(name) if isinstance(v, str) and v]
        else:
            value = _text(form, name, 10_000).strip()
        typed.values[key] = value
        if definition.get("required") and value in ("", []):
            errors[name] = "This field is required."
    return typed


def _check_fields(desk: Desk, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The values as they will be stored, and each refused one's reason: the desk names the
    first bad value, so it is asked again without it until the rest pass."""
    remaining, errors = dict(values), dict[str, str]()
    while remaining:
        try:
            return desk.check_fields(remaining), errors
        except UserError as error:
            if error.field not in remaining:
                raise
            errors[error.field] = error.message
            del remaining[error.field]
    return {}, errors


def _files_again(typed: NewTicket, files: Sequence[IncomingFile]) -> NewTicket:
    if files and forms.FILES not in typed.errors:
        typed.errors[forms.FILES] = "Choose the files again: a browser does not keep them."
    return typed


# -- form values ------------------------------------------------------------------------


def _text(form: FormData, name: str, limit: int) -> str:
    """A text field, cut at ``limit`` characters; NUL characters, which no store keeps, go."""
    value = form.get(name)
    return value[:limit].replace("\x00", "") if isinstance(value, str) else ""


def _after(before: str | None) -> sorting.Position | None:
    """Where the previous page ended (the id of its last ticket); anything else starts over."""
    if not before or not before.isascii() or not before.isdigit() or len(before) > 10:
        return None
    try:
        return sorting.position(sorting.DEFAULT, int(before), int(before))
    except ValueError:
        return None
