"""Signing in: links by email, passwords, sessions, CSRF, and the limits on failures."""

from __future__ import annotations

import threading
from dataclasses import replace

import httpx

from bot.desk.facade import Desk
from bot.errors import TooManyAttempts, Unauthenticated
from bot.model import Actor, Role
from bot.people.sign_in import client_key
from channels.http.api import create_app
from channels.web.app import web_routes
from tests.fakes import FakeClock
from tests.integration.web.conftest import (
    PASSWORD,
    Browser,
    last_link,
    sign_in_with_link,
    sign_in_with_password,
    staff,
)
from tests.live_http import LiveServer


def test_a_requester_signs_in_with_a_link_once(browser: Browser, store, desk) -> None:
    page = browser.get("/signin")
    assert page.status_code == 200
    assert "Email me a sign-in link" in page.text
    sent = browser.submit("/signin/link", {"email": "Rita@Customer.test"})
    assert "a sign-in link is on its way" in sent.text
    path = last_link(store, "rita@customer.test")
    confirm = browser.get(path)  # a mail scanner's GET spends nothing
    assert confirm.status_code == 200 and "Continue to sign in" in confirm.text
    signed = browser.submit(path)
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert browser.get("/signin").status_code == 303  # signed in: on to the portal
    # The same link again is refused, even from a fresh browser.
    other = Browser(base_url=str(browser.base_url))
    other.get(path)
    assert other.submit(path).status_code == 401
    other.close()


def test_asking_for_a_link_never_says_whether_the_address_is_known(browser: Browser, desk) -> None:
    staff(desk, "known@support.test")
    known = browser.submit("/signin/link", {"email": "known@support.test"})
    unknown = browser.submit("/signin/link", {"email": "nobody@nowhere.test"})
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("known@support.test", "X") == unknown.text.replace("nobody@nowhere.test", "X")


def test_a_link_expires_after_fifteen_minutes(browser: Browser, store, desk, clock: FakeClock) -> None:
    browser.submit("/signin/link", {"email": "late@customer.test"})
    path = last_link(store, "late@customer.test")
    clock.advance(minutes=15, seconds=1)
    browser.get(path)
    assert browser.submit(path).status_code == 401


def test_an_agent_signs_in_with_a_password_and_out(browser: Browser, desk) -> None:
    staff(desk, "ann@support.test")
    signed = sign_in_with_password(browser, "ann@support.test")
    assert signed.status_code == 303 and signed.headers["location"] == "/desk"
    assert browser.get("/signin").status_code == 303  # signed in already
    browser.get("/desk")  # the page after sign-in: its forms carry the session's CSRF token
    out = browser.submit("/signout")
    assert out.status_code == 303
    assert browser.get("/signin").status_code == 200


def test_a_wrong_password_is_refused_and_failures_are_limited(browser: Browser, desk) -> None:
    staff(desk, "ann@support.test")
    for _ in range(desk.settings.web.max_failures_per_address):
        assert sign_in_with_password(browser, "ann@support.test", "wrong password!").status_code == 401
    # Now even the right password waits: the address is limited.
    assert sign_in_with_password(browser, "ann@support.test").status_code == 429


def test_a_form_without_its_csrf_token_changes_nothing(browser: Browser, desk) -> None:
    staff(desk, "ann@support.test")
    browser.get("/signin")
    refused = browser.post("/signin/password", data={"email": "ann@support.test", "password": PASSWORD})
    assert refused.status_code == 403
    forged = browser.post(
        "/signin/password", data={"email": "ann@support.test", "password": PASSWORD, "csrf": "0" * 40}
    )
    assert forged.status_code == 403
    assert "sb_session" not in browser.cookies


def test_sessions_end_when_the_role_changes(browser: Browser, desk) -> None:
    staff(desk, "ann@support.test")
    sign_in_with_password(browser, "ann@support.test")
    assert browser.get("/signin").status_code == 303
    desk.update_person(Actor.console(), "ann@support.test", role=Role.REQUESTER)
    assert browser.get("/signin").status_code == 200  # signed out


def test_pages_carry_the_security_headers(browser: Browser) -> None:
    page = browser.get("/signin")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"


def test_static_files_have_hashed_names_and_are_cached_for_good(browser: Browser, web) -> None:
    url = web.site.static.url("app.js")
    assert url.startswith("/static/app.") and url.endswith(".js")
    served = browser.get(url)
    assert served.status_code == 200
    assert (
        "immutable" in served.headers["cache-control"]
        and "max-age=31536000" in served.headers["cache-control"]
    )
    assert browser.get("/static/app.js").status_code == 404


def test_a_requester_with_a_link_session_is_no_agent(browser: Browser, store, desk) -> None:
    sign_in_with_link(browser, store, "rita@customer.test")
    assert browser.get("/signin").status_code == 303


def test_right_passwords_are_no_failures_and_parallel_guesses_stay_within_the_limit(desk) -> None:
    staff(desk, "ann@support.test")
    limit = desk.settings.web.max_failures_per_address
    for _ in range(limit + 2):  # each success forgets its attempt
        desk.sign_in_with_password("ann@support.test", PASSWORD, "192.0.2.1")
    outcomes: list[str] = []

    def guess() -> None:
        try:
            desk.sign_in_with_password("ann@support.test", "not the password", "192.0.2.1")
        except TooManyAttempts:
            outcomes.append("limited")
        except Unauthenticated:
            outcomes.append("checked")

    threads = [threading.Thread(target=guess) for _ in range(3 * limit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 3 * limit
    assert outcomes.count("checked") <= limit  # never more guesses checked than the limit


def test_a_client_counts_by_its_ipv6_slash_64() -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key("198.51.100.4") == "198.51.100.4"


def test_the_link_page_says_whose_account_it_signs_in_to(browser: Browser, store) -> None:
    browser.submit("/signin/link", {"email": "rita@customer.test"})
    path = last_link(store, "rita@customer.test")
    page = browser.get(path)
    assert "rita@customer.test" in page.text
    browser.submit(path)
    assert browser.get(path).status_code == 401  # spent: the page says so before any click


def test_over_https_the_cookies_are_host_only_and_secure(desk, store) -> None:
    settings = replace(desk.settings, web=replace(desk.settings.web, public_url="https://help.example.test"))
    web = web_routes(Desk(store, desk.clock, settings), settings)
    app = create_app(store, web.routes, desk, limits=web.upload_paths)
    with LiveServer(app) as live, Browser(base_url=f"http://127.0.0.1:{live.port}") as client:
        page = client.get("/signin")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("__Host-sb_browser=") and "Secure" in cookie and "Path=/" in cookie
    assert page.headers["strict-transport-security"].startswith("max-age=")


def test_signing_out_with_an_ended_session_clears_the_cookie(browser: Browser, desk) -> None:
    staff(desk, "ann@support.test")
    sign_in_with_password(browser, "ann@support.test")
    browser.get("/desk")
    desk.update_person(Actor.console(), "ann@support.test", role=Role.REQUESTER)  # the session ends
    out = browser.post("/signout", data={})
    assert out.status_code == 303 and "sb_session" not in browser.cookies


def test_a_sign_in_link_takes_the_requester_where_they_were_going(browser: Browser, store) -> None:
    browser.get("/signin?next=%2Ftickets%2FSUP-7")
    browser.submit("/signin/link", {"email": "rita@customer.test", "next": "/tickets/SUP-7"})
    link = httpx.URL(last_link(store, "rita@customer.test", whole=True))
    assert link.params["next"] == "/tickets/SUP-7"
    path = link.path
    page = browser.get(link.raw_path.decode())
    assert 'name="next" value="/tickets/SUP-7"' in page.text
    signed = browser.submit(path, {"next": "/tickets/SUP-7"})
    assert signed.headers["location"] == "/tickets/SUP-7"


def test_every_answer_carries_the_security_headers_even_a_404_of_no_route(browser: Browser) -> None:
    for answer in (browser.get("/no/such/page"), browser.get("/signout"), browser.get("/tickets/1/files/x")):
        assert answer.headers["x-content-type-options"] == "nosniff", answer.url
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], answer.url


def test_a_csrf_token_in_any_script_is_refused_not_a_crash(browser: Browser) -> None:
    browser.get("/signin")
    token = "jeton-\u00e9t\u00e9"
    in_header = browser.post(
        "/signin/link", data={"email": "x@example.test"}, headers={"X-CSRF-Token": token.encode("latin-1")}
    )
    in_field = browser.post("/signin/link", data={"email": "x@example.test", "csrf": token})
    assert in_header.status_code == in_field.status_code == 403


def test_a_form_the_server_cannot_read_is_answered_with_a_page(browser: Browser) -> None:
    browser.get("/signin")
    fields = {f"f{n}": "x" for n in range(300)}
    answer = browser.post("/signin/link", data={"csrf": browser.csrf, **fields})
    assert answer.status_code == 422 and "could not be read" in answer.text
    assert answer.headers["content-type"].startswith("text/html")
