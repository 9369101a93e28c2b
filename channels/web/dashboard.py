"""The dashboard: the open queue and the last 30 days at a glance, for agents and admins.

The figures come from one desk call (:meth:`bot.desk.reading.Reading.dashboard`); this
module only lays them out: metric cards, server-drawn SVG charts (:mod:`channels.web.charts`)
and the same figures as tables. The metrics region reloads itself from
``/dashboard/metrics`` every 30 seconds, and at once when the queue's live stream says
something changed (then not again for 5 seconds, however busy the desk).

The figures are the same for every agent and admin, and reading them costs a few tenths of
a second at a million tickets. Every open dashboard hears of a change at the same moment;
so a process reads them at most once per :data:`FRESH_SECONDS`, and the dashboards
refreshing together share that one reading.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.model import Actor
from bot.read.dashboard import DAYS, DashboardView, Share
from channels.web.charts import Bar, Series, bar_chart, daily_chart
from channels.web.site import Site, guarded

FRESH_SECONDS = 1.0
# Agents drawn in the load chart; the table beside it lists them all.
CHART_AGENTS = 20
_STATUS_TONES = {"open": "accent", "in_progress": "second", "waiting_customer": "muted"}
_PRIORITY_TONES = {"urgent": "danger", "high": "warn", "medium": "accent", "low": "muted"}


@dataclass(frozen=True, slots=True)
class Card:
    """One figure of the top row: what it is, its value as shown, a line on what it counts."""

    label: str
    value: str
    note: str
    # A badge beside the value when it needs a look, with the stylesheet's class for it.
    flag: str = ""
    flag_class: str = ""


class SharedReading:
    """The last reading of the figures, kept :data:`FRESH_SECONDS`; one read at a time.

    Only staff reach it (the pages ask ``site.signed_in(staff=True)`` first, the rule the
    desk's own check applies to whoever triggers a read)."""

    def __init__(self, site: Site, fresh_seconds: float = FRESH_SECONDS) -> None:
        self.site = site
        self.fresh_seconds = fresh_seconds
        self.view: DashboardView | None = None
        self.read_at = 0.0
        self.lock = asyncio.Lock()

    async def get(self, actor: Actor) -> DashboardView:
        async with self.lock:
            if self.view is None or time.monotonic() - self.read_at >= self.fresh_seconds:
                self.view = await self.site.call(self.site.desk.dashboard, actor)
                self.read_at = time.monotonic()
            return self.view


def routes(site: Site) -> list[BaseRoute]:
    reading = SharedReading(site)

    async def dashboard(request: Request) -> Response:
        viewer = await site.signed_in(request, staff=True)
        assert viewer.actor is not None
        return site.page(request, "dashboard.html", layout(await reading.get(viewer.actor)))

    async def metrics(request: Request) -> Response:
        viewer = await site.signed_in(request, staff=True)
        assert viewer.actor is not None
        return site.page(request, "dashboard_metrics.html", layout(await reading.get(viewer.actor)))

    return [
        Route("/dashboard", guarded(site, dashboard), methods=["GET"]),
        Route("/dashboard/metrics", guarded(site, metrics), methods=["GET"]),
    ]


def layout(view: DashboardView) -> dict[str, Any]:
    """What the templates show: cards, charts (as SVG markup) and the rows of the tables."""
    created = sum(day.created for day in view.days)
    resolved = sum(day.resolved for day in view.days)
    cards = [
        Card("Open tickets", str(view.open_total), f"{view.unassigned} unassigned"),
        Card(
            "At risk now",
            str(view.at_risk),
            "open tickets near an SLA target",
            *_flag(view.at_risk, "at_risk"),
        ),
        Card(
            "Breached now",
            str(view.breached),
            "open tickets past an SLA target",
            *_flag(view.breached, "breached"),
        ),
        _share_card("First response within target", view.first_response, "answered"),
        _share_card("Resolved within SLA", view.resolution, "resolved"),
        Card(
            "Median first response", hours(view.first_response_median_h), f"answered in the last {DAYS} days"
        ),
        Card("Median resolution", hours(view.resolution_median_h), f"resolved in the last {DAYS} days"),
        Card("Created / resolved", f"{created} / {resolved}", f"in the last {DAYS} days"),
    ]
    statuses = [Bar(label(c.name), c.count, _STATUS_TONES.get(c.name, "accent")) for c in view.by_status]
    priorities = [
        Bar(label(c.name), c.count, _PRIORITY_TONES.get(c.name, "accent")) for c in view.by_priority
    ]
    agents = [Bar(agent.name, agent.open) for agent in view.agents[:CHART_AGENTS]]
    days = [day.day for day in view.days]
    flow = [
        Series("Created", [day.created for day in view.days], "accent"),
        Series("Resolved", [day.resolved for day in view.days], "ok"),
    ]
    return {
        "view": view,
        "cards": cards,
        "days_shown": DAYS,
        "status_chart": bar_chart("open-by-status", "Open tickets by status", statuses, unit="tickets"),
        "priority_chart": bar_chart(
            "open-by-priority", "Open tickets by priority", priorities, unit="tickets"
        ),
        "flow_chart": daily_chart(
            "created-resolved", f"Tickets created and resolved per day, last {DAYS} days", days, flow
        ),
        "agents_chart": bar_chart("agent-load", "Open tickets per agent", agents, unit="open", width=960),
        "agents_hidden": max(len(view.agents) - CHART_AGENTS, 0),
        "label": label,
    }


def label(name: str) -> str:
    """``in_progress`` as people read it: "In progress"."""
    return name.replace("_", " ").capitalize()


def hours(value: float | None) -> str:
    """A duration given in hours, in the unit that reads best: 45 min, 5.2 h, 3.1 d."""
    if value is None:
        return "\u2013"
    if value < 1:
        return f"{round(value * 60)} min"
    if value < 48:
        return f"{value:.1f} h"
    return f"{value / 24:.1f} d"


def _flag(count: int, kind: str) -> tuple[str, str]:
    return ("needs a look", kind) if count else ("", "")


def _share_card(title: str, share: Share, verb: str) -> Card:
    pct = share.pct
    if pct is None:
        return Card(title, "\u2013", f"no tickets {verb} in the last {DAYS} days")
    note = f"{share.met} of {share.judged} {verb} in the last {DAYS} days"
    flag = ("", "") if pct >= 90 else ("below 90%", "at_risk") if pct >= 75 else ("below 75%", "breached")
    return Card(title, percent(pct), note, *flag)


def percent(value: float) -> str:
    """Rounded down to 0.1, so 99.96 % of tickets in time never shows as 100 %."""
    shown = math.floor(value * 10) / 10
    return f"{shown:.0f}%" if shown.is_integer() else f"{shown:.1f}%"
