"""Administration pages, admins only: people, teams, categories, custom fields, SLA policies,
routing rules, webhooks, API tokens, the mail and Slack settings in force (read-only) and
banned senders (admin_bans.py);
the automation rules' pages, which staff may read too, are admin_automations.py's.

Each form (:mod:`channels.web.admin_forms`) calls the same desk method as the API and the
CLI, so the rules (what a valid policy is, which address a webhook may call, who may hold
a token) are the core's. A refusal of the desk is shown beside its form (422) with what
was typed kept, secrets excepted; a success redirects to the section (303), except a new
API token, which is shown once on the page that answers the form. Every page and form
asks for an admin first (403 for anyone else); a form then needs its CSRF token before
anything is read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.automation.routing_rules import CHANNELS
from bot.config.settings import Settings, secret_options
from bot.desk.facade import Desk
from bot.errors import Forbidden, NotFound, Unauthenticated, UserError
from bot.model import Actor, FieldType, Priority, Role
from bot.notify.webhooks import EVENTS
from bot.views import PersonView
from channels.web import admin_automations, admin_bans
from channels.web.admin_forms import ACTIONS, MAX_ROW_ID, Action, Failed, Ids, Values
from channels.web.site import Site, guarded

SECTIONS = (
    ("people", "People"),
    ("teams", "Teams"),
    ("categories", "Categories"),
    ("fields", "Custom fields"),
    ("sla", "SLA policies"),
    ("routing", "Routing rules"),
    ("webhooks", "Webhooks"),
    ("tokens", "API tokens"),
    ("settings", "Mail and Slack"),
    ("bans", "Banned senders"),
)
# The navigation: these sections, and the automation rules' pages (admin_automations.py).
TABS = (*SECTIONS[:6], ("automations", "Automations"), *SECTIONS[6:])
# What a redirect after a form says, by a fixed key: a link cannot make the page say anything else.
DONE = {
    "added": "Added.",
    "changed": "Saved.",
    "removed": "Removed.",
    "revoked": "Token revoked: it no longer opens the API.",
    "password": "Password saved. Their open sessions have ended.",
}
MASK = "********"
RECENT_DELIVERIES = 20


def routes(site: Site) -> list[BaseRoute]:
    async def index(request: Request) -> Response:
        await site.signed_in(request, admin=True)
        return site.page(request, "admin/index.html", {"sections": TABS, "section": None})

    def section_page(section: str) -> Callable[[Request], Any]:
        async def show(request: Request) -> Response:
            viewer = await site.signed_in(request, admin=True)
            assert viewer.actor is not None
            return await _render(site, request, viewer.actor, section)

        return show

    def post(action: Action) -> Callable[[Request], Any]:
        async def submit(request: Request) -> Response:
            viewer = await site.signed_in(request, admin=True)
            assert viewer.actor is not None
            values = Values(await site.form(request))
            ids = _ids(request)
            try:
                outcome = await site.call(action.run, site.desk, viewer.actor, values, ids)
            except (Forbidden, Unauthenticated):
                raise
            except UserError as error:
                failed = values.refused(action.form, error)
                return await _render(site, request, viewer.actor, action.section, failed=failed, status=422)
            if isinstance(outcome, dict):
                return await _render(site, request, viewer.actor, action.section, extra=outcome)
            return site.redirect(request, f"/admin/{action.section}?done={outcome}")

        return submit

    pages: list[BaseRoute] = [Route("/admin", guarded(site, index), methods=["GET"])]
    for section, _title in SECTIONS:
        pages.append(Route(f"/admin/{section}", guarded(site, section_page(section)), methods=["GET"]))
    pages.append(Route("/admin/sla/{policy_id:int}", guarded(site, section_page("sla")), methods=["GET"]))
    pages.append(
        Route("/admin/routing/{rule_id:int}", guarded(site, section_page("routing")), methods=["GET"])
    )
    for action in (*ACTIONS, *admin_bans.ACTIONS):
        pages.append(Route(action.path, guarded(site, post(action)), methods=["POST"]))
    return pages + admin_automations.routes(site, TABS)


def _ids(request: Request) -> dict[str, int]:
    ids = {name: value for name, value in request.path_params.items() if isinstance(value, int)}
    if any(value > MAX_ROW_ID for value in ids.values()):
        raise NotFound("no such policy, rule, webhook, token or ban")
    return ids


async def _render(
    site: Site,
    request: Request,
    actor: Actor,
    section: str,
    *,
    failed: Failed | None = None,
    extra: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Response:
    ids = _ids(request)
    edit = request.query_params.get("edit", "")[:320]
    context = await site.call(READERS[section], site.desk, actor, ids, edit)
    context.update(
        sections=TABS,
        section=section,
        failed=failed,
        done=DONE.get(request.query_params.get("done", "")),
        **(extra or {}),
    )
    return site.page(request, f"admin/{section}.html", context, status)


# -- reading each section ----------------------------------------------------------------


def _staff(desk: Desk, actor: Actor) -> list[PersonView]:
    people = desk.people_for(actor, Role.ADMIN.value) + desk.people_for(actor, Role.AGENT.value)
    return sorted(people, key=lambda person: (person.email or "").casefold())


def _pairs(names: Sequence[Any]) -> list[tuple[str, str]]:
    """A select's options, each value shown as itself."""
    return [(str(name), str(name)) for name in names]


def _teams(desk: Desk) -> dict[str, Any]:
    teams = desk.list_teams()
    return {"teams": teams, "team_options": _pairs([team["name"] for team in teams])}


def _categories(desk: Desk) -> dict[str, Any]:
    categories = desk.list_categories()
    return {"categories": categories, "category_options": _pairs([row["path"] for row in categories])}


def _read_people(desk: Desk, actor: Actor, ids: Ids, edit: str) -> dict[str, Any]:
    staff = _staff(desk, actor)
    editing = next((p for p in staff if edit and p.email == edit.strip().lower()), None)
    teams = _teams(desk)
    # The change form's choice of team (see _team_choice).
    changes = [("", "(unchanged)"), ("none", "(no team)")]
    changes += [(f"team:{value}", label) for value, label in teams["team_options"]]
    return {
        "staff": staff,
        "role_options": _pairs(list(Role)),
        "editing": editing,
        "team_changes": changes,
        **teams,
    }


def _read_teams(desk: Desk, actor: Actor, ids: Ids, edit: str) -> dict[str, Any]:
    staff = _staff(desk, actor)
    return {"staff_options": _pairs([p.email for p in staff if p.email]), **_teams(desk)}


def _read_categories(desk: Desk, actor: Actor, ids: Ids, edit: str) -> dict[str, Any]:
    return {**_teams(desk), "categories": desk.categories_for(actor)}


def _read_fields(desk: Desk, actor: Actor, ids: Ids, edit: str) -> dict[str, Any]:
    return {"fields": desk.fields_for(actor), "kind_options": _pairs(list(FieldType))}


def _read_sla(desk: Desk, actor: Actor, ids: Ids, edit: str) -> dict[str, Any]:
    configuration = desk.sla_configuration(actor)
    editing = None
    if "policy_id" in ids:
        editing = next((p for p in configuration["overrides"] if p["id"] == ids["policy_id"]), None)
        if editing is None:
            raise NotFound(f"no stored SLA policy {ids['policy_id']}")
        editing = _own_values(editing, desk.settings)
    return {
        "sla": configuration,
        "editing": editing,
        "priority_options": _pairs(list(Priority)),
        "span": span,
        **_categories(desk),
    }


def _own_values(policy: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A stored policy as its form shows it: a value the default policy gives it shows as
    empty, so saving the form unchanged keeps it following the default."""
    sla = settings.sla
    defaults = {
        "timezone": sla.timezone,
        "business_hours": sla.business_hours or None,
        "holiday_country": sla.holiday_country or None,
        "holidays": sla.holidays or None,
    }
    return policy | {
        key: "" if policy[key] == value else policy[key] or "" for key, value in defaults.items()
    }


def _read_routing(desk: Desk, actor: Actor, ids: Ids, edit: str) -> dict[str, Any]:
    configuration = desk.routing_configuration(actor)
    editing = None
    if "rule_id" in ids:
        editing = next((r for r in configuration["rules"] if r["id"] == ids["rule_id"]), None)
        if editing is None:
            raise NotFound(f"no routing rule {ids['rule_id']}")
    return {
        "routing": configuration,
        "editing": editing,
        "priority_options": _pairs(list(Priority)),
        "channel_options": _pairs(CHANNELS),
        **_teams(desk),
        **_categories(desk),
    }


def _read_webhooks(desk: Desk, actor: Actor, ids: Ids, edit: str) -> dict[str, Any]:
    return {
        "webhooks": desk.list_webhooks(actor),
        "deliveries": desk.webhook_deliveries(actor, None, RECENT_DELIVERIES),
        "events": EVENTS,
        "priorities": [priority.value for priority in Priority],
        **_categories(desk),
    }


def _read_tokens(desk: Desk, actor: Actor, ids: Ids, edit: str) -> dict[str, Any]:
    return {"tokens": desk.list_tokens(), "staff": _staff(desk, actor)}


def _read_settings(desk: Desk, actor: Actor, ids: Ids, edit: str) -> dict[str, Any]:
    return {"groups": settings_shown(desk.settings)}


READERS: dict[str, Callable[[Desk, Actor, Ids, str], dict[str, Any]]] = {
    "people": _read_people,
    "teams": _read_teams,
    "categories": _read_categories,
    "fields": _read_fields,
    "sla": _read_sla,
    "routing": _read_routing,
    "webhooks": _read_webhooks,
    "tokens": _read_tokens,
    "settings": _read_settings,
    "bans": admin_bans.read_bans,
}

# The settings page: mail and Slack, as `supportbot config show` prints them.
SHOWN_SECTIONS = (
    ("email", "Email"),
    ("smtp", "SMTP server (mail in)"),
    ("relay", "Relay (mail out)"),
    ("imap", "IMAP accounts"),
    ("mailboxes", "Support addresses"),
    ("slack", "Slack"),
)


def settings_shown(settings: Settings) -> list[tuple[str, list[tuple[str, str]]]]:
    """The mail and Slack settings as (option, value) rows per group; every secret option that
    is set shows as ``********`` and one that is not as empty, so a page never holds one."""
    secrets = set(secret_options())
    groups: list[tuple[str, list[tuple[str, str]]]] = []
    for name, title in SHOWN_SECTIONS:
        value = getattr(settings, name)
        entries = list(enumerate(value)) if isinstance(value, tuple) else [(None, value)]
        rows: list[tuple[str, str]] = []
        for index, entry in entries:
            for option in dataclasses.fields(entry):
                shown = getattr(entry, option.name)
                if f"{name}.{option.name}" in secrets or option.metadata.get("secret"):
                    shown = MASK if shown else "(not set)"
                prefix = f"{name}[{index}]." if index is not None else f"{name}."
                rows.append((prefix + option.name, _setting_text(shown)))
        groups.append((title, rows))
    return groups


def span(seconds: float) -> str:
    """A target in the units the settings file uses: 90s, 15m, 4h, 2d."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _setting_text(value: Any) -> str:
    """An option's value as text; a password inside a URL (an egress proxy's) masked."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if "://" in text and "@" in text:
        parts = urlsplit(text)
        if parts.password:
            host = parts.netloc.rpartition("@")[2]
            text = urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}"))
    return text
