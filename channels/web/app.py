"""The web desk's routes, handed to the HTTP server by the composition root.

Pages, by who uses them:

- ``/signin`` ... sign-in and sign-out (signin.py, oidc.py)
- ``/``, ``/new``, ``/tickets/N`` the requesters' portal (portal.py); staff opening
  ``/tickets/N`` get the workspace's ticket page
- ``/desk`` the agents' queues and bulk changes (workspace.py), ``/desk/tickets/N`` one
  ticket with every action (agent_ticket.py), ``/desk/suspended`` held mail (suspended.py)
- ``/dashboard`` live key metrics (dashboard.py)
- ``/admin`` ... administration, admins only (admin.py)
- ``/live/...`` server-sent events that tell an open page something changed (live.py)
- ``/static/...`` hashed static files (static_files.py)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.routing import BaseRoute

from bot.config.settings import Settings
from bot.desk.facade import Desk
from channels.web import admin, agent_ticket, dashboard, live, oidc, portal, signin, suspended, workspace
from channels.web.held_count import HeldCount
from channels.web.site import Site


@dataclass(frozen=True, slots=True)
class WebDesk:
    routes: list[BaseRoute]
    # Paths whose bodies may be larger than the server's default (a ticket with attachments).
    upload_paths: list[tuple[re.Pattern[str], int]]
    site: Site


def web_routes(desk: Desk, settings: Settings) -> WebDesk:
    site = Site(desk, settings)
    routes: list[BaseRoute] = [site.static.route()]
    routes += signin.routes(site)
    routes += oidc.routes(site)
    routes += portal.routes(site)
    held = HeldCount(desk)
    routes += workspace.routes(site, held)
    routes += suspended.routes(site, held)
    routes += agent_ticket.routes(site)
    routes += dashboard.routes(site)
    routes += admin.routes(site)
    routes += live.routes(site)
    uploads = settings.attachments.max_total_bytes + 1024 * 1024
    return WebDesk(
        routes, [(re.compile(p), uploads) for p in portal.UPLOAD_PATHS + agent_ticket.UPLOAD_PATHS], site
    )
