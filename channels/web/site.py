"""What every page of the web desk shares: who is asking, CSRF, rendering, security headers.

The web desk is a channel like the API: each endpoint reads the request, calls the desk
(in a thread: the desk is synchronous) and renders what it answers. Who may see and do
what is the core's to say; a refusal from the desk becomes an error page here.

Sessions live in the store (:mod:`bot.people.sign_in`); the cookie carries only a random
token. CSRF: every form and every htmx request carries a token derived from the cookie
the browser holds (the session's, or before sign-in a random one of its own), which a
page of another site can neither read nor compute. A state-changing request without it
is refused before anything is read from its body.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.config.settings import Settings
from bot.desk.facade import Desk
from bot.errors import Forbidden, NotFound, StoreUnavailable, Unauthenticated, UserError
from bot.model import Actor
from bot.notify.render import default_templates_dir
from channels.web.forms import values_of
from channels.web.static_files import StaticFiles

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

SESSION_COOKIE = "sb_session"
BROWSER_COOKIE = "sb_browser"  # before sign-in: what the sign-in forms' CSRF token derives from
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
# A form's parts: enough for a ticket with files and every custom field, a queue's selection.
MAX_FILES = 20
MAX_FIELDS = 200

# No inline script or style anywhere: htmx is configured (base.html) not to inject styles.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking: ``actor`` is None before sign-in. ``csrf`` goes into every form."""

    actor: Actor | None
    session_token: str | None
    browser_token: str
    csrf: str
    new_browser_cookie: bool = False

    @property
    def signed_in(self) -> bool:
        return self.actor is not None

    @property
    def is_staff(self) -> bool:
        return self.actor is not None and self.actor.role.is_staff

    @property
    def is_admin(self) -> bool:
        return self.actor is not None and self.actor.role.value == "admin"


class CsrfRefused(Exception):
    """A state-changing request without this browser's token: refused, nothing changed."""


class SignInNeeded(Exception):
    """A page that wants a signed-in person (or staff), asked without one."""


def csrf_of(cookie: str) -> str:
    return hashlib.sha256(b"supportbot-csrf:" + cookie.encode()).hexdigest()[:40]


def local_path(target: str | None, fallback: str = "/") -> str:
    """Where to go after sign-in: a path on this site only (never ``//evil.example``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    if any(ord(c) < 32 for c in target):
        return fallback
    return target


class Site:
    """The web desk's shared parts, built once per process by :func:`channels.web.app.web_routes`."""

    def __init__(self, desk: Desk, settings: Settings, templates_dir: Path | None = None) -> None:
        self.desk = desk
        self.settings = settings
        self.static = StaticFiles()
        roots = [str(Path(settings.templates_dir) / "web")] if settings.templates_dir else []
        roots.append(str(templates_dir or default_templates_dir() / "web"))
        self.templates = Environment(
            loader=FileSystemLoader(roots),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self.templates.globals.update(
            static=self.static.url,
            desk_name=settings.email.from_name,
            oidc=settings.web.oidc if settings.web.oidc.enabled else None,
        )
        self.templates.filters["when"] = when
        self.templates.filters["ago"] = ago
        self.base_url = settings.web.base_url(settings.http)
        self.secure = settings.web.secure_cookies
        # Over https the cookies carry the __Host- prefix: the browser then takes them only
        # from this host, over https, for path /, so a sibling subdomain or a network attacker
        # on plain http cannot plant one (a planted browser cookie would forge sign-in CSRF).
        prefix = "__Host-" if self.secure else ""
        self.session_cookie = prefix + SESSION_COOKIE
        self.browser_cookie = prefix + BROWSER_COOKIE

    # -- who is asking ----------------------------------------------------------------

    async def viewer(self, request: Request) -> Viewer:
        """The session's person, if the cookie names a live session. One query per request."""
        cached: Viewer | None = getattr(request.state, "viewer", None)
        if cached is not None:
            return cached
        token = request.cookies.get(self.session_cookie) or None
        actor = await self.call(self.desk.session_actor, token) if token else None
        browser = request.cookies.get(self.browser_cookie) or ""
        new_browser = not (16 <= len(browser) <= 100)
        if new_browser:
            browser = secrets.token_urlsafe(24)
        viewer = Viewer(
            actor=actor,
            session_token=token if actor is not None else None,
            browser_token=browser,
            csrf=csrf_of(token if actor is not None and token else browser),
            new_browser_cookie=new_browser,
        )
        request.state.viewer = viewer
        return viewer

    async def signed_in(self, request: Request, *, staff: bool = False, admin: bool = False) -> Viewer:
        viewer = await self.viewer(request)
        if viewer.actor is None:
            raise SignInNeeded()
        if admin and not viewer.is_admin:
            raise Forbidden("only admins may open the administration pages")
        if staff and not viewer.is_staff:
            raise NotFound("no such page")
        return viewer

    async def form(self, request: Request) -> FormData:
        """The posted form, after checking this browser's CSRF token (header or field).

        The header is checked before the body is read; a form field only after, since it is
        in the body. Either way nothing is done with the form until the token matched."""
        viewer = await self.viewer(request)
        header = request.headers.get(CSRF_HEADER)
        if header is not None and not _same(header, viewer.csrf):
            raise CsrfRefused()
        try:
            form = await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
        except (MultiPartException, HTTPException) as error:
            detail = getattr(error, "message", None) or getattr(error, "detail", "")
            raise UserError(f"this form could not be read: {detail}".rstrip(": ")) from None
        if header is None:
            field = form.get(CSRF_FIELD)
            if not isinstance(field, str) or not _same(field, viewer.csrf):
                await form.close()
                raise CsrfRefused()
        return form

    async def form_values(self, request: Request) -> dict[str, list[str]]:
        """The posted form's text fields (:meth:`form`'s checks made), for forms with no files."""
        form = await self.form(request)
        try:
            return values_of(form)
        finally:
            await form.close()

    # -- answering ----------------------------------------------------------------------

    def page(
        self, request: Request, template: str, context: Mapping[str, Any], status: int = 200
    ) -> Response:
        viewer: Viewer | None = getattr(request.state, "viewer", None)
        html = self.templates.get_template(template).render(
            request=request,
            viewer=viewer,
            csrf=viewer.csrf if viewer else "",
            htmx=request.headers.get("hx-request") == "true",
            path=request.url.path,
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        return self.finish(request, response)

    def redirect(self, request: Request, to: str, status: int = 303) -> Response:
        response: Response = RedirectResponse(to, status_code=status)
        if request.headers.get("hx-request") == "true":  # htmx follows this instead of swapping
            response = Response(status_code=204, headers={"hx-redirect": to})
        return self.finish(request, response)

    def finish(self, request: Request, response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if self.secure:
            response.headers.setdefault("strict-transport-security", "max-age=31536000")
        viewer: Viewer | None = getattr(request.state, "viewer", None)
        if viewer is not None and viewer.new_browser_cookie:
            self.set_cookie(response, self.browser_cookie, viewer.browser_token, max_age=None)
        return response

    def set_cookie(self, response: Response, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(
            name, value, max_age=max_age, path="/", httponly=True, samesite="lax", secure=self.secure
        )

    def error(self, request: Request, status: int, message: str) -> Response:
        return self.page(request, "error.html", {"status": status, "message": message}, status=status)

    async def call(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """A desk call, off the event loop."""
        return await asyncio.to_thread(function, *args, **kwargs)


Endpoint = Callable[[Request], Awaitable[Response]]


def _same(given: str, expected: str) -> bool:
    """Constant-time, and for any text a client sends (compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())


def guarded(site: Site, endpoint: Endpoint) -> Endpoint:
    """Every page's refusals as pages: sign-in first, 404 for what the person may not see
    (never saying whether it exists), 403, 503 while the store is away."""

    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except SignInNeeded:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return site.redirect(request, "/signin?next=" + quote(target, safe=""))
        except CsrfRefused:
            logger.info("web: %s %s refused: no valid CSRF token", request.method, request.url.path)
            return site.error(
                request,
                403,
                "This form has expired or did not come from this site. Reload the page and try again.",
            )
        except NotFound as error:
            return site.error(request, 404, error.message)
        except Forbidden as error:
            return site.error(request, 403, error.message)
        except Unauthenticated as error:
            return site.error(request, 401, error.message)
        except UserError as error:
            return site.error(request, 422, error.message)
        except StoreUnavailable:
            response = site.error(
                request, 503, "The help desk's database is unavailable; try again in a moment."
            )
            response.headers["retry-after"] = "5"
            return response
        except HTTPException as error:  # Starlette's own refusals, as pages too
            return site.error(request, error.status_code, str(error.detail))

    return run


def when(value: datetime | None) -> str:
    """A timestamp as people read it (UTC; the page's script shows it in the reader's zone)."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return ""
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            amount = f"{int(seconds // size)} {unit}"
            return f"in {amount}" if future else f"{amount} ago"
    return "now" if not future else "in under a minute"
