"""Static files under names that carry a hash of their content, cached for a year.

A changed file gets a new name, so browsers never run a stale script against a new
page, and an unchanged one is never asked for again. Templates ask for
``static("app.js")`` and get ``/static/app.3f2a9c1e0b7d.js``.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

STATIC_DIR = Path(__file__).with_name("static")
PREFIX = "/static/"
CACHE_FOREVER = "public, max-age=31536000, immutable"
SERVED = {".js", ".css", ".svg", ".png", ".ico", ".woff2"}


@dataclass(frozen=True, slots=True)
class Asset:
    url: str
    body: bytes
    content_type: str


class StaticFiles:
    """Every file of ``directory``, read once at start: a handful of small files."""

    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.by_name: dict[str, Asset] = {}
        self.by_url: dict[str, Asset] = {}
        for path in sorted(directory.iterdir()):
            if path.suffix not in SERVED or not path.is_file():
                continue
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:12]
            url = f"{PREFIX}{path.stem}.{digest}{path.suffix}"
            kind = mimetypes.types_map.get(path.suffix, "application/octet-stream")
            if kind.startswith("text/") or kind.endswith("javascript"):
                kind += "; charset=utf-8"
            asset = Asset(url, body, kind)
            self.by_name[path.name] = asset
            self.by_url[url] = asset

    def url(self, name: str) -> str:
        """For templates; a missing file is a bug, found when the page first renders."""
        return self.by_name[name].url

    def route(self) -> Route:
        async def serve(request: Request) -> Response:
            asset = self.by_url.get(request.url.path)
            if asset is None:
                return Response("not found\n", status_code=404, media_type="text/plain")
            return Response(
                asset.body,
                media_type=asset.content_type,
                headers={"cache-control": CACHE_FOREVER, "x-content-type-options": "nosniff"},
            )

        return Route(PREFIX + "{name:path}", serve, methods=["GET", "HEAD"], name="static")
