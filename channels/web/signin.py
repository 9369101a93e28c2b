"""Sign-in pages: a one-time link by email, a password, single sign-on (oidc.py), sign-out.

A sign-in link opens a page with a button rather than signing in on GET: mail scanners
and link previews fetch links in mail, and would spend a single-use link before its
owner clicks it.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.errors import TooManyAttempts, Unauthenticated, UserError
from bot.people.sign_in import SignedIn
from channels.web.site import Site, guarded, local_path

logger = logging.getLogger(__name__)

LINK_SENT = (
    "If that address can sign in here, a sign-in link is on its way to it. It works once, within 15 minutes."
)


def routes(site: Site) -> list[Route]:
    async def signin_page(request: Request) -> Response:
        viewer = await site.viewer(request)
        target = local_path(request.query_params.get("next"))
        if viewer.signed_in:
            return site.redirect(request, target)
        return site.page(request, "signin/signin.html", {"next": target, "sent": False, "error": None})

    async def ask_for_link(request: Request) -> Response:
        form = await site.form(request)
        email = str(form.get("email", ""))[:320].strip()
        target = local_path(str(form.get("next", "")))
        client = _client(request)
        try:
            link_base = f"{site.base_url}/signin/link/"
            await site.call(site.desk.request_sign_in_link, email, client, link_base, target)
        except TooManyAttempts:
            pass  # answered like every other request: whether anything was sent is not said
        except UserError as error:
            context = {"next": target, "sent": False, "error": error.message, "email": email}
            return site.page(request, "signin/signin.html", context, status=422)
        return site.page(request, "signin/signin.html", {"next": target, "sent": True, "error": None})

    async def link_page(request: Request) -> Response:
        await site.viewer(request)
        token = request.path_params["token"]
        address = await site.call(site.desk.sign_in_link_address, token)
        if address is None:
            message = "this sign-in link is used, expired or unknown; ask for a new one"
            return site.page(request, "signin/link.html", {"token": None, "error": message}, status=401)
        target = local_path(request.query_params.get("next"))
        return site.page(request, "signin/link.html", {"token": token, "address": address, "next": target})

    async def use_link(request: Request) -> Response:
        form = await site.form(request)
        token = request.path_params["token"]
        try:
            signed = await site.call(site.desk.sign_in_with_link, token, _client(request))
        except Unauthenticated as error:
            return site.page(request, "signin/link.html", {"token": None, "error": error.message}, status=401)
        return start_session(site, request, signed, local_path(str(form.get("next", ""))))

    async def with_password(request: Request) -> Response:
        form = await site.form(request)
        email = str(form.get("email", ""))[:320].strip()
        password = str(form.get("password", ""))
        target = local_path(str(form.get("next", "")))
        try:
            signed = await site.call(site.desk.sign_in_with_password, email, password, _client(request))
        except Unauthenticated as error:
            status = 429 if isinstance(error, TooManyAttempts) else 401
            context = {
                "next": target,
                "sent": False,
                "error": error.message,
                "email": email,
                "password_tab": True,
            }
            return site.page(request, "signin/signin.html", context, status=status)
        return start_session(site, request, signed, target)

    async def sign_out(request: Request) -> Response:
        viewer = await site.viewer(request)
        if viewer.session_token:  # a live session ends only by a form of this site's
            await site.form(request)
            await site.call(site.desk.sign_out, viewer.session_token)
        response = site.redirect(request, "/signin")
        response.delete_cookie(
            site.session_cookie, path="/", httponly=True, samesite="lax", secure=site.secure
        )
        return response

    return [
        Route("/signin", guarded(site, signin_page), methods=["GET"]),
        Route("/signin/link", guarded(site, ask_for_link), methods=["POST"]),
        Route("/signin/link/{token}", guarded(site, link_page), methods=["GET"]),
        Route("/signin/link/{token}", guarded(site, use_link), methods=["POST"]),
        Route("/signin/password", guarded(site, with_password), methods=["POST"]),
        Route("/signout", guarded(site, sign_out), methods=["POST"]),
    ]


def start_session(site: Site, request: Request, signed: SignedIn, target: str) -> Response:
    """The session cookie, then on to where the person was going (staff to the workspace)."""
    if target == "/" and signed.actor.role.is_staff:
        target = "/desk"
    logger.info("web: person %s signed in", signed.actor.person_id)
    response = site.redirect(request, target)
    # A session cookie (no Max-Age): the store decides when the session ends.
    site.set_cookie(response, site.session_cookie, signed.token, max_age=None)
    return response


def _client(request: Request) -> str:
    """The client address as the HTTP server knows it (X-Forwarded-For from trusted proxies)."""
    return request.client.host if request.client else "unknown"
