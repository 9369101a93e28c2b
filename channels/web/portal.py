"""(being written)"""

from __future__ import annotations

from starlette.routing import BaseRoute

from channels.web.site import Site

UPLOAD_PATHS: list[str] = []


def routes(site: Site) -> list[BaseRoute]:
    return []
