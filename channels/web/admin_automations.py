"""Automation rules in the web desk: the list in running order with what each rule did, a
rule written as JSON (with the catalogs of triggers, fields, operators and actions beside
it), trying a rule on stored tickets, and the execution log.

Admins change rules; staff may read the list, try rules and read the log (the core says
who may do what: a change by anyone else is refused there too). A rule is the same JSON the
API, the CLI and rule files carry, so the page checks nothing of its own: a refusal of the
desk comes back beside the textarea, naming the part at fault, with what was typed kept.
Requesters are refused like on every administration page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.automation.runs import OUTCOMES
from bot.desk.facade import Desk
from bot.errors import Forbidden, NotFound, Unauthenticated, UserError
from bot.model import Actor, Priority, Status
from bot.read.queries import TicketFilter
from bot.rules.durations import since_of
from channels.web.admin_forms import MAX_ROW_ID, Values
from channels.web.automation_text import (
    EXAMPLE,
    change_text,
    fragment,
    reference,
    rule_text,
    trigger_text,
    typed_rule,
)
from channels.web.site import Site, Viewer, guarded

BASE = "/admin/automations"
LOG_PAGE = 50
MAX_RULE_TEXT = 300_000  # 20 actions of the longest note, and room to spare
DEFAULT_SINCE = "30d"
TRY_FILTERS = ("status", "priority", "category", "team", "tag")
DONE = {
    "added": "Rule added.",
    "changed": "Rule saved.",
    "removed": "Rule removed; what it did stays in the log.",
    "enabled": "Rule enabled.",
    "disabled": "Rule disabled.",
    "dry_run": "Rule switched to dry-run: it is evaluated on live events and only logs what it would do.",
    "live": "Rule switched to live: its actions now change tickets.",
}


def routes(site: Site, tabs: Sequence[tuple[str, str]]) -> list[BaseRoute]:
    """``tabs``: the administration sections, for the page's navigation."""
    desk = site.desk

    async def reader(request: Request) -> Actor:
        """Staff read; a requester is refused as on every administration page."""
        viewer = await site.signed_in(request)
        if not viewer.is_staff or viewer.actor is None:
            raise Forbidden("only admins may open the administration pages")
        return viewer.actor

    async def admin(request: Request) -> Actor:
        viewer = await site.signed_in(request, admin=True)
        assert viewer.actor is not None
        return viewer.actor

    def page(request: Request, template: str, context: Mapping[str, Any], status: int = 200) -> Response:
        viewer: Viewer = request.state.viewer
        shown = tabs if viewer.is_admin else [("automations", "Automations")]
        extra = {"sections": shown, "section": "automations", "can_change": viewer.is_admin}
        return site.page(request, template, {**extra, **context}, status)

    async def list_page(request: Request, error: str | None = None, status: int = 200) -> Response:
        actor = await reader(request)
        rules = await site.call(desk.list_automations, actor)
        context = {
            "rules": [_listed(rule) for rule in rules],
            "outcomes": OUTCOMES,
            "done": DONE.get(request.query_params.get("done", "")),
            "error": error,
        }
        return page(request, "admin/automations.html", context, status)

    async def new_page(request: Request) -> Response:
        actor = await admin(request)
        text = json.dumps(EXAMPLE, indent=2)
        return page(request, "admin/automation_form.html", await _editor(site, actor, None, text))

    async def edit_page(request: Request) -> Response:
        actor = await admin(request)
        rule = await site.call(desk.get_automation, actor, _rule_id(request))
        context = await _editor(site, actor, rule, rule_text(rule))
        return page(request, "admin/automation_form.html", context)

    async def save(request: Request) -> Response:
        actor = await admin(request)
        rule_id = _rule_id(request) if "rule_id" in request.path_params else None
        values = Values(await site.form(request))
        text = values.text("rule", MAX_RULE_TEXT, strip=False)
        stored = await site.call(desk.get_automation, actor, rule_id) if rule_id is not None else None
        data: dict[str, Any] | None = None
        try:
            data = typed_rule(text)
            if rule_id is None:
                await site.call(desk.add_automation, actor, data)
            else:
                await site.call(desk.change_automation, actor, rule_id, data)
        except (Forbidden, Unauthenticated, NotFound):
            raise
        except UserError as error:
            context = await _editor(site, actor, stored, text, refusal=_refusal(error, data))
            return page(request, "admin/automation_form.html", context, 422)
        return site.redirect(request, f"{BASE}?done={'added' if rule_id is None else 'changed'}")

    def patch(kind: str) -> Callable[[Request], Any]:
        async def submit(request: Request) -> Response:
            actor = await admin(request)
            rule_id = _rule_id(request)
            values = Values(await site.form(request))
            choice = values.text(kind, 20)
            try:
                if kind == "enabled":
                    if choice not in ("true", "false"):
                        raise UserError("enabled: true or false", field="enabled")
                    await site.call(desk.patch_automation, actor, rule_id, enabled=choice == "true")
                    done = "enabled" if choice == "true" else "disabled"
                else:
                    await site.call(desk.patch_automation, actor, rule_id, mode=choice)
                    done = choice
            except (Forbidden, Unauthenticated, NotFound):
                raise
            except UserError as error:  # the rule names what no longer exists, say
                return await list_page(request, error.message, 422)
            return site.redirect(request, f"{BASE}?done={done}")

        return submit

    async def remove_page(request: Request) -> Response:
        actor = await admin(request)
        rule = await site.call(desk.get_automation, actor, _rule_id(request))
        return page(request, "admin/automation_remove.html", {"rule": _listed(rule)})

    async def remove(request: Request) -> Response:
        actor = await admin(request)
        rule_id = _rule_id(request)
        await site.form(request)
        await site.call(desk.remove_automation, actor, rule_id)
        return site.redirect(request, f"{BASE}?done=removed")

    async def test_stored(request: Request) -> Response:
        """A stored rule tried: a GET form (since, filters), as a bookmark can hold it."""
        actor = await reader(request)
        rule_id = _rule_id(request)
        rule = await site.call(desk.get_automation, actor, rule_id)
        asked = {name: request.query_params.get(name, "")[:320].strip() for name in TRY_FILTERS}
        since = request.query_params.get("since", DEFAULT_SINCE)[:40].strip()
        choices = await site.call(desk.work_choices, actor)
        context: dict[str, Any] = {
            "rule": _listed(rule),
            "tested": rule_text(rule),
            "typed": None,
            "refusal": None,
            "choices": _tryfield_choices(choices.categories, choices.teams),
        }
        context.update(await _tried(site, actor, rule_id, since, asked))
        return page(request, "admin/automation_test.html", context, 422 if context["error"] else 200)

    async def test_typed(request: Request) -> Response:
        """The rule as typed (the editor's "Try it"), tried without storing it."""
        actor = await reader(request)
        values = Values(await site.form(request))
        text = values.text("rule", MAX_RULE_TEXT, strip=False)
        asked = {name: values.text(name, 320) for name in TRY_FILTERS}
        since = values.text("since", 40)
        stored = await site.call(_stored, desk, actor, _form_rule_id(values))
        context = await _editor(site, actor, stored, text)
        context.update(since=since, asked=asked, report=None, error=None)
        data: dict[str, Any] | None = None
        try:
            data = typed_rule(text)
        except UserError as error:
            context["refusal"] = _refusal(error, None)
        if data is not None:
            context.update(await _tried(site, actor, data, since, asked))
            if context["error"] and context["error_field"] not in ("since", *TRY_FILTERS):
                # The rule itself was refused: said beside the textarea, like saving it would.
                context["refusal"] = _refusal(UserError(context["error"], field=context["error_field"]), data)
                context["error"] = None
        context["typed"] = text
        failed = context["refusal"] is not None or context["error"] is not None
        return page(request, "admin/automation_test.html", context, 422 if failed else 200)

    async def log_page(request: Request) -> Response:
        actor = await reader(request)
        params = request.query_params
        shown = {
            "rule": params.get("rule", "")[:20].strip(),
            "outcome": params.get("outcome", "")[:20].strip(),
            "ticket": params.get("ticket", "")[:40].strip(),
        }
        context = await site.call(_log, desk, actor, shown, params.get("before", "")[:20].strip())
        return page(request, "admin/automation_log.html", context, 422 if context["error"] else 200)

    one = BASE + "/{rule_id:int}"
    pages: list[tuple[str, str, Callable[[Request], Any]]] = [
        ("GET", BASE, list_page),
        ("POST", BASE, save),
        ("GET", f"{BASE}/new", new_page),
        ("GET", f"{BASE}/log", log_page),
        ("POST", f"{BASE}/test", test_typed),
        ("GET", one, edit_page),
        ("POST", one, save),
        ("POST", f"{one}/enabled", patch("enabled")),
        ("POST", f"{one}/mode", patch("mode")),
        ("GET", f"{one}/remove", remove_page),
        ("POST", f"{one}/remove", remove),
        ("GET", f"{one}/test", test_stored),
    ]
    return [Route(path, guarded(site, endpoint), methods=[method]) for method, path, endpoint in pages]


# -- the rule as JSON ----------------------------------------------------------------------


def _refusal(error: UserError, data: Any) -> dict[str, Any]:
    return {"message": error.message, "field": error.field, "fragment": fragment(data, error.field)}


# -- what the pages show -------------------------------------------------------------------


def _listed(rule: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **rule,
        "trigger_text": trigger_text(rule.get("trigger") or {}),
        "action_names": [str(a.get("do")) for a in rule.get("actions") or [] if isinstance(a, Mapping)],
        "condition_count": sum(len((rule.get("conditions") or {}).get(g) or []) for g in ("all", "any")),
    }


async def _editor(
    site: Site, actor: Actor, rule: Mapping[str, Any] | None, text: str, *, refusal: Any = None
) -> dict[str, Any]:
    choices = await site.call(site.desk.work_choices, actor)
    return {
        "rule": _listed(rule) if rule else None,
        "rule_text": text,
        "refusal": refusal,
        "since": DEFAULT_SINCE,
        "asked": {},
        "choices": _tryfield_choices(choices.categories, choices.teams),
        "reference": reference(choices.fields),
    }


def _tryfield_choices(categories: Sequence[str], teams: Sequence[str]) -> dict[str, list[str]]:
    return {
        "status": [s.value for s in Status],
        "priority": [p.value for p in Priority],
        "category": list(categories),
        "team": list(teams),
    }


async def _tried(
    site: Site, actor: Actor, rule: Mapping[str, Any] | int, since_text: str, asked: Mapping[str, str]
) -> dict[str, Any]:
    """The dry run's report, or the refusal (of the rule, the window or a filter)."""
    context: dict[str, Any] = {
        "since": since_text,
        "asked": dict(asked),
        "report": None,
        "error": None,
        "error_field": None,
    }
    try:
        since = since_of(since_text or DEFAULT_SINCE, site.desk.clock.now())
        given = {name: value or None for name, value in asked.items() if name in TRY_FILTERS}
        filters = (
            TicketFilter(
                status=given.get("status"),
                priority=given.get("priority"),
                category=given.get("category"),
                team=given.get("team"),
                tag=given.get("tag"),
            )
            if any(given.values())
            else None
        )
        report = await site.call(site.desk.test_automation, actor, rule, since=since, filters=filters)
    except (Forbidden, Unauthenticated):
        raise
    except UserError as error:
        context.update(error=error.message, error_field=error.field)
        return context
    matches = [
        {"match": match, "changes": [change_text(change) for change in match.changes]}
        for match in report.matches
    ]
    context.update(report=report, matches=matches)
    return context


def _log(desk: Desk, actor: Actor, shown: dict[str, str], before: str) -> dict[str, Any]:
    rules = desk.list_automations(actor)
    context: dict[str, Any] = {
        "shown": shown,
        "rules": rules,
        "known": {rule["id"] for rule in rules},
        "outcomes": OUTCOMES,
        "runs": [],
        "older": None,
        "newest": None,
        "error": None,
    }
    try:
        found = desk.automation_log(
            actor,
            rule_id=_number(shown["rule"], "rule"),
            ticket=shown["ticket"] or None,
            outcome=_outcome(shown["outcome"]),
            before_id=_number(before, "before"),
            limit=LOG_PAGE + 1,
        )
    except (Forbidden, Unauthenticated):
        raise
    except UserError as error:
        context["error"] = error.message
        return context
    runs = found[:LOG_PAGE]
    context["runs"] = [{"run": run, "changes": [change_text(c) for c in run.changes]} for run in runs]
    if len(found) > LOG_PAGE:
        context["older"] = f"{BASE}/log?" + urlencode(
            {**{k: v for k, v in shown.items() if v}, "before": runs[-1].id}
        )
    context["newest"] = f"{BASE}/log?" + urlencode({k: v for k, v in shown.items() if v}) if before else None
    return context


def _number(text: str, name: str) -> int | None:
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ROW_ID:
        raise UserError(f"{name}: {text!r} is not an id", field=name)
    return int(text)


def _outcome(text: str) -> str | None:
    if text and text not in OUTCOMES:
        raise UserError(f"outcome: use one of {', '.join(OUTCOMES)}", field="outcome")
    return text or None


def _rule_id(request: Request) -> int:
    rule_id: int = request.path_params["rule_id"]
    if rule_id > MAX_ROW_ID:
        raise NotFound(f"no automation rule {rule_id}")
    return rule_id


def _stored(desk: Desk, actor: Actor, rule_id: int | None) -> dict[str, Any] | None:
    """The stored rule the typed one would be saved over, if it is still there."""
    if rule_id is None:
        return None
    try:
        return desk.get_automation(actor, rule_id)
    except NotFound:
        return None


def _form_rule_id(values: Values) -> int | None:
    text = values.text("rule_id", 20)
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ROW_ID else None
