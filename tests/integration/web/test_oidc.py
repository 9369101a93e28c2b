"""Single sign-on with OpenID Connect, against a local provider (tests/oidc_provider.py).

The browser's redirects are followed by hand, so each leg can be looked at or spoiled: the
desk sends the browser to the provider's /authorize, which sends it back to the desk's
callback with a code; the desk redeems the code at the provider's /token and checks the
ID token it gets before anyone is signed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from sqlalchemy import select

from bot.config.settings import Settings
from bot.desk.facade import Desk
from bot.model import Actor, Role
from bot.store import tables as t
from bot.store.db import Store
from channels.http.api import create_app
from channels.web.app import WebDesk, web_routes
from channels.web.oidc import FLOW_COOKIE, challenge_of, flow_key
from tests.fakes import FakeClock
from tests.integration.web.conftest import Browser
from tests.live_http import LiveServer
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider
from tests.ports import free_port

AGENT_DOMAIN = "support.test"


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    with OidcProvider() as running:
        yield running


@pytest.fixture
def desk_port() -> int:
    return free_port()


@pytest.fixture
def oidc_extra() -> dict[str, Any]:
    """More [web.oidc] options: a test parametrizes this to change them."""
    return {}


@pytest.fixture
def desk(
    store: Store,
    clock: FakeClock,
    settings: Settings,
    provider: OidcProvider,
    desk_port: int,
    oidc_extra: dict[str, Any],
) -> Desk:
    oidc = replace(
        settings.web.oidc,
        issuer=provider.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        name="Example ID",
        agent_domains=f"@{AGENT_DOMAIN.upper()}, partner.test",
        **oidc_extra,
    )
    web = replace(settings.web, public_url=f"http://127.0.0.1:{desk_port}", oidc=oidc)
    return Desk(store, clock, replace(settings, web=web))


@pytest.fixture
def server(store: Store, desk: Desk, web: WebDesk, desk_port: int) -> Iterator[LiveServer]:
    """On the port public_url names, so the redirect URI leads back here."""
    app = create_app(store, web.routes, desk, limits=web.upload_paths)
    with LiveServer(app, port=desk_port) as live:
        yield live


def to_provider(browser: Browser, target: str = "/") -> httpx.Response:
    """The desk's redirect to the provider's /authorize."""
    started = browser.get("/signin/oidc?next=" + quote(target, safe=""))
    assert started.status_code == 303, started.text
    return started


def to_callback(browser: Browser, target: str = "/") -> str:
    """Where the provider sends the browser back: the desk's callback with code and state."""
    authorized = browser.get(to_provider(browser, target).headers["location"])
    assert authorized.status_code == 302, authorized.text
    return authorized.headers["location"]


def sso(browser: Browser, target: str = "/") -> httpx.Response:
    return browser.get(to_callback(browser, target))


def session_of(browser: Browser, desk: Desk) -> Actor | None:
    token = browser.cookies.get("sb_session")
    return desk.session_actor(token) if token else None


def person(store: Store, email: str) -> t.Person | None:
    with store.read() as session:
        return session.scalar(select(t.Person).where(t.Person.email == email))


def assert_refused(response: httpx.Response, browser: Browser, store: Store, email: str, why: str) -> None:
    """A 401 page saying why, no session, nobody new in the directory."""
    assert response.status_code == 401, response.text
    assert why in response.text
    assert "Nobody was signed in" in response.text
    assert "sb_session" not in browser.cookies
    assert browser.get("/signin").status_code == 200  # still signed out
    assert person(store, email) is None


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return parts._replace(query="&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())).geturl()


# -- signing in ----------------------------------------------------------------------------


def test_an_agent_domain_address_signs_in_as_an_agent_and_lands_on_the_desk(
    browser: Browser, provider: OidcProvider, desk: Desk, store: Store, desk_port: int
) -> None:
    provider.sign_in_as("Sam@Support.test", name="Sam Agent")
    started = to_provider(browser)
    location = urlsplit(started.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == provider.issuer and location.path == "/authorize"
    asked = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert asked["response_type"] == "code" and asked["client_id"] == CLIENT_ID
    assert asked["redirect_uri"] == f"http://127.0.0.1:{desk_port}/signin/oidc/callback"
    assert asked["scope"] == "openid email profile" and asked["code_challenge_method"] == "S256"
    assert len(asked["state"]) >= 32 and len(asked["nonce"]) >= 32 and asked["state"] != asked["nonce"]
    (cookie,) = [c for c in started.headers.get_list("set-cookie") if c.startswith(f"{FLOW_COOKIE}=")]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert "Max-Age=600" in cookie and "Path=/signin/oidc" in cookie

    answer = browser.get(started.headers["location"]).headers["location"]
    callback = browser.get(answer)
    assert callback.status_code == 303 and callback.headers["location"] == "/desk"
    assert FLOW_COOKIE not in browser.cookies  # spent
    actor = session_of(browser, desk)
    assert actor is not None and actor.role is Role.AGENT and actor.label == "sam@support.test"
    signed_up = person(store, "sam@support.test")
    assert signed_up is not None and signed_up.name == "Sam Agent"

    # PKCE: the verifier the desk sent hashes to the challenge it sent; the secret went as Basic auth.
    (redeemed,) = provider.token_requests
    assert challenge_of(redeemed["code_verifier"]) == asked["code_challenge"]
    assert (
        redeemed["auth_method"] == "client_secret_basic" and redeemed["redirect_uri"] == asked["redirect_uri"]
    )

    # The same answer again is refused: the flow was spent with it.
    assert browser.get(answer).status_code == 401


def test_another_address_becomes_a_requester_and_goes_where_it_was_going(
    browser: Browser, provider: OidcProvider, desk: Desk
) -> None:
    provider.sign_in_as("rita@customer.test", name="Rita")
    done = sso(browser, "/tickets/7?tab=history")
    assert done.status_code == 303 and done.headers["location"] == "/tickets/7?tab=history"
    actor = session_of(browser, desk)
    assert actor is not None and actor.role is Role.REQUESTER


def test_an_existing_admin_keeps_their_role(browser: Browser, provider: OidcProvider, desk: Desk) -> None:
    desk.add_person(Actor.console(), "boss@support.test", name="Boss", role=Role.ADMIN)
    provider.sign_in_as("boss@support.test")
    assert sso(browser).headers["location"] == "/desk"
    actor = session_of(browser, desk)
    assert actor is not None and actor.role is Role.ADMIN


def test_an_existing_requester_in_an_agent_domain_stays_a_requester(
    browser: Browser, provider: OidcProvider, desk: Desk
) -> None:
    desk.add_person(Actor.console(), "former@support.test", role=Role.REQUESTER)
    provider.sign_in_as("former@support.test")
    assert sso(browser).headers["location"] == "/"
    actor = session_of(browser, desk)
    assert actor is not None and actor.role is Role.REQUESTER


def test_the_secret_goes_in_the_form_when_the_provider_takes_only_that(
    browser: Browser, provider: OidcProvider, desk: Desk
) -> None:
    provider.auth_methods = ("client_secret_post",)
    assert sso(browser).status_code == 303
    assert provider.token_requests[0]["auth_method"] == "client_secret_post"
    assert session_of(browser, desk) is not None


def test_the_email_comes_from_userinfo_when_the_id_token_leaves_it_out(
    browser: Browser, provider: OidcProvider, desk: Desk
) -> None:
    provider.email_in_id_token = False
    provider.sign_in_as("una@partner.test")
    assert sso(browser).headers["location"] == "/desk"
    assert provider.hits["userinfo"] == 1
    actor = session_of(browser, desk)
    assert actor is not None and actor.label == "una@partner.test" and actor.role is Role.AGENT


def test_discovery_and_keys_are_fetched_once_for_many_sign_ins(
    provider: OidcProvider, open_browser: Any, desk: Desk
) -> None:
    for number in range(3):
        provider.sign_in_as(f"user{number}@customer.test")
        assert sso(open_browser()).status_code == 303
    assert provider.hits["discovery"] == 1 and provider.hits["jwks"] == 1 and provider.hits["token"] == 3


def test_a_flow_started_by_one_worker_finishes_on_another(
    browser: Browser, provider: OidcProvider, store: Store, desk: Desk, server: LiveServer
) -> None:
    """Workers share no memory: the flow cookie is checked with a key both derive from the secret."""
    other = web_routes(desk, desk.settings)
    with LiveServer(create_app(store, other.routes, desk, limits=other.upload_paths)) as second:
        callback = urlsplit(to_callback(browser))
        done = browser.get(callback._replace(netloc=f"127.0.0.1:{second.port}").geturl())
    assert done.status_code == 303
    assert session_of(browser, desk) is not None


# -- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spoil", "why"),
    [
        pytest.param({"signature": "forged"}, "signature does not verify", id="another-key"),
        pytest.param(
            {"signature": "hs256"}, "which this desk does not accept", id="hs256-with-client-secret"
        ),
        pytest.param({"signature": "none"}, "which this desk does not accept", id="unsigned"),
        pytest.param({"claims": {"nonce": "someone-elses-nonce"}}, "its nonce differs", id="wrong-nonce"),
        pytest.param({"claims": {"nonce": None}}, "its nonce differs", id="no-nonce"),
        pytest.param({"claims": {"aud": "another-client"}}, "issued to another client", id="wrong-audience"),
        pytest.param(
            {"claims": {"aud": [CLIENT_ID, "another-client"], "azp": "another-client"}},
            "authorized for another client",
            id="azp-another-client",
        ),
        pytest.param(
            {"claims": {"aud": [CLIENT_ID, "another-client"]}},
            "authorized for another client",
            id="several-audiences-no-azp",
        ),
        pytest.param({"claims": {"iss": "https://impostor.example"}}, "another issuer", id="wrong-issuer"),
        pytest.param({"claims": {"exp": 1_700_000_000, "iat": 1_699_999_000}}, "has expired", id="expired"),
        pytest.param(
            {"claims": {"iat": 4_000_000_000, "exp": 4_000_000_300}},
            "dated in the future",
            id="from-the-future",
        ),
        pytest.param({"claims": {"sub": None}}, "not valid", id="no-subject"),
    ],
)
def test_a_bad_id_token_is_refused(
    browser: Browser, provider: OidcProvider, store: Store, spoil: dict[str, Any], why: str
) -> None:
    for knob, value in spoil.items():
        setattr(provider, knob, value)
    provider.sign_in_as("mallory@support.test")
    assert_refused(sso(browser), browser, store, "mallory@support.test", why)


@pytest.mark.parametrize("verified", [False, "true", None])
def test_an_address_the_provider_has_not_verified_is_refused(
    browser: Browser, provider: OidcProvider, store: Store, verified: Any
) -> None:
    provider.sign_in_as("maybe@support.test", verified=verified)
    if verified is None:  # not said at all: the desk asks /userinfo, which does not say either
        provider.claims = {"email_verified": None}
    assert_refused(sso(browser), browser, store, "maybe@support.test", "not verified")


def test_a_wrong_state_is_refused(browser: Browser, provider: OidcProvider, store: Store) -> None:
    provider.sign_in_as("sam@support.test")
    callback = with_query(to_callback(browser), state="a-state-from-another-flow")
    assert_refused(browser.get(callback), browser, store, "sam@support.test", "another sign-in")
    assert provider.hits["token"] == 0  # refused before the code was redeemed


def test_an_answer_for_another_browsers_sign_in_is_refused(
    browser: Browser, open_browser: Any, provider: OidcProvider, store: Store
) -> None:
    """Login CSRF: an attacker starts a sign-in and has a victim's browser finish it."""
    provider.sign_in_as("attacker@support.test")
    callback = to_callback(open_browser())
    assert_refused(browser.get(callback), browser, store, "attacker@support.test", "no sign-in in progress")


def test_a_forged_or_altered_flow_cookie_is_refused(
    browser: Browser, provider: OidcProvider, store: Store
) -> None:
    provider.sign_in_as("sam@support.test")
    callback = to_callback(browser)
    payload, _, signature = browser.cookies[FLOW_COOKIE].rpartition(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=="))
    fields[3] = "//evil.example/"
    altered = base64.urlsafe_b64encode(json.dumps(fields).encode()).rstrip(b"=").decode()
    browser.cookies.set(FLOW_COOKIE, f"{altered}.{signature}", domain="127.0.0.1", path="/signin/oidc")
    assert_refused(browser.get(callback), browser, store, "sam@support.test", "not made by this site")

    # Signed, but with a key made from another secret.
    callback = to_callback(browser)
    payload = browser.cookies[FLOW_COOKIE].rpartition(".")[0]
    wrong = hmac.new(flow_key("not-the-secret"), payload.encode(), hashlib.sha256).hexdigest()
    browser.cookies.set(FLOW_COOKIE, f"{payload}.{wrong}", domain="127.0.0.1", path="/signin/oidc")
    assert_refused(browser.get(callback), browser, store, "sam@support.test", "not made by this site")


def test_a_sign_in_older_than_ten_minutes_is_refused(
    browser: Browser, provider: OidcProvider, store: Store, clock: FakeClock
) -> None:
    provider.sign_in_as("slow@support.test")
    callback = to_callback(browser)
    clock.advance(minutes=10, seconds=1)
    assert_refused(browser.get(callback), browser, store, "slow@support.test", "longer than 10 minutes")


def test_the_provider_saying_no_is_shown_with_its_reason(
    browser: Browser, provider: OidcProvider, store: Store
) -> None:
    provider.deny = "access_denied"
    response = browser.get(to_callback(browser))
    assert_refused(response, browser, store, "rita@customer.test", "refused the sign-in (access_denied)")
    assert "The person said no." in response.text


def test_a_code_the_provider_will_not_redeem_is_refused(
    browser: Browser, open_browser: Any, provider: OidcProvider, store: Store
) -> None:
    """A code already spent (by another browser's sign-in) with this browser's own state."""
    provider.sign_in_as("first@customer.test")
    first = open_browser()
    spent = to_callback(first)
    assert first.get(spent).status_code == 303
    provider.sign_in_as("second@customer.test")
    mine = with_query(to_callback(browser), code=parse_qs(urlsplit(spent).query)["code"][0])
    assert_refused(browser.get(mine), browser, store, "second@customer.test", "HTTP 400 (invalid_grant)")


def test_a_provider_that_cannot_be_reached_is_a_502(
    browser: Browser, provider: OidcProvider, store: Store
) -> None:
    callback = to_callback(browser)
    provider.__exit__(None, None, None)
    refused = browser.get(callback)
    assert refused.status_code == 502 and "could not reach the sign-in provider" in refused.text
    assert "sb_session" not in browser.cookies


def test_an_error_for_no_flow_of_ours_shows_no_text_from_the_link(browser: Browser, store: Store) -> None:
    """The provider's description is shown only for a sign-in this browser started: otherwise
    anyone could put words on the desk's page with a crafted link."""
    response = browser.get("/signin/oidc/callback?error=access_denied&error_description=Call+555-0100+now")
    assert response.status_code == 401 and "access_denied" in response.text
    assert "555-0100" not in response.text


def test_a_refusal_is_logged_with_its_reason_and_no_token(
    browser: Browser, provider: OidcProvider, caplog: pytest.LogCaptureFixture
) -> None:
    provider.claims = {"aud": "another-client"}
    with caplog.at_level(logging.INFO, logger="channels.web.oidc"):
        callback = to_callback(browser)
        assert browser.get(callback).status_code == 401
    (record,) = [r for r in caplog.records if r.name == "channels.web.oidc"]
    assert record.levelno == logging.INFO and "issued to another client" in record.getMessage()
    code = parse_qs(urlsplit(callback).query)["code"][0]
    assert code not in caplog.text and "eyJ" not in caplog.text


def test_an_issuer_whose_discovery_names_another_is_not_used(
    browser: Browser, provider: OidcProvider
) -> None:
    provider.discovery_issuer = "https://impostor.example"
    refused = browser.get("/signin/oidc?next=/")
    assert refused.status_code == 502 and "impostor.example" in refused.text
    assert FLOW_COOKIE not in browser.cookies and provider.hits["authorize"] == 0


# -- the sign-in page ------------------------------------------------------------------------


def test_the_sign_in_pages_button_signs_in_and_goes_on_where_the_person_was_going(
    browser: Browser, provider: OidcProvider, desk: Desk
) -> None:
    page = browser.get("/signin?next=" + quote("/tickets/7?tab=history", safe=""))
    assert "Sign in with Example ID" in page.text
    found = re.search(r'href="(/signin/oidc\?[^"]*)"', page.text)
    assert found is not None
    started = browser.get(html.unescape(found.group(1)))
    assert started.status_code == 303
    done = browser.get(browser.get(started.headers["location"]).headers["location"])
    assert done.status_code == 303 and done.headers["location"] == "/tickets/7?tab=history"
    assert session_of(browser, desk) is not None


def test_a_signed_in_person_starting_again_just_goes_on(
    browser: Browser, provider: OidcProvider, desk: Desk
) -> None:
    provider.sign_in_as("sam@support.test")
    sso(browser)
    again = browser.get("/signin/oidc?next=/desk")
    assert again.status_code == 303 and again.headers["location"] == "/desk"
    assert provider.hits["authorize"] == 1


def test_without_an_issuer_there_is_no_button_and_the_routes_are_not_found(
    store: Store, clock: FakeClock, settings: Settings
) -> None:
    assert not settings.web.oidc.enabled
    plain = Desk(store, clock, settings)
    routes = web_routes(plain, settings)
    with LiveServer(create_app(store, routes.routes, plain, limits=routes.upload_paths)) as live:
        with Browser(base_url=f"http://127.0.0.1:{live.port}", timeout=20) as client:
            assert "/signin/oidc" not in client.get("/signin").text
            assert client.get("/signin/oidc?next=/").status_code == 404
            assert client.get("/signin/oidc/callback?code=x&state=y").status_code == 404


@pytest.mark.parametrize("oidc_extra", [{"required_claims": "hd=support.test"}])
def test_an_account_without_the_required_claims_is_refused(
    browser: Browser, provider: OidcProvider, store: Store
) -> None:
    provider.sign_in_as("ex.employee@support.test")
    provider.claims = {"hd": "gmail.com"}
    assert_refused(sso(browser), browser, store, "ex.employee@support.test", "hd is not support.test")
    provider.claims = {"hd": "support.test"}
    assert sso(browser).status_code == 303


@pytest.mark.parametrize("oidc_extra", [{"staff_sso_only": True}])
def test_staff_who_must_use_sso_have_no_password_or_link_sign_in(
    browser: Browser, provider: OidcProvider, desk: Desk, store: Store
) -> None:
    agent = f"ann@{AGENT_DOMAIN}"
    desk.add_person(Actor.console(), agent, role=Role.AGENT)
    desk.set_password(Actor.console(), agent, "correct horse battery staple")
    browser.get("/signin")
    refused = browser.submit("/signin/password", {"email": agent, "password": "correct horse battery staple"})
    assert refused.status_code == 401 and "single sign-on" in refused.text
    browser.get("/signin")
    assert "on its way" in browser.submit("/signin/link", {"email": agent}).text  # the same answer ...
    with store.read() as session:  # ... but no link was mailed
        mailed = session.scalars(select(t.Notification).where(t.Notification.recipient == agent)).all()
    assert mailed == []
    provider.sign_in_as(agent)
    assert sso(browser).headers["location"] == "/desk"
