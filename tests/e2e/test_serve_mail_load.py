"""Hostile HTML mail against the real ``supportbot serve`` process: the server must stay responsive.

Six mails of about 500 KB, each a ``<div>`` nested 100,000 deep, arrive at
once over SMTP. Sanitizing one of them used to take nh3 about 20 s on a
thread of the event loop's default pool, which the HTTP side shares: every
``/healthz`` waited over a minute. Now ``/healthz`` must answer within 1 s
all the while, and each mail must still become a ticket with its text.

The HTML guard turns such mail away before nh3 ever sees it, so a second run
lifts its bounds: nh3 then really spends seconds on each mail, past the
parse time limit, and ``/healthz`` must still answer within 1 s meanwhile.
"""

from __future__ import annotations

import json
import smtplib
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.process import SUPPORTBOT, clean_environment, healthy, supportbot
from tests.ports import free_port
from tests.waiting import wait_until

MAILS = 6
DEPTH = 100_000


def deep_mail(index: int) -> bytes:
    """About 500 KB of HTML: ``<div>`` 100,000 deep, in lines SMTP accepts, then the text."""
    lines = "\r\n".join("<div>" * 100 for _ in range(DEPTH // 100))
    return (
        f"From: Eve <eve{index}@example.com>\r\nTo: support@localhost\r\nSubject: Deep {index}\r\n"
        f"Message-ID: <deep-{index}@example.com>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/html; charset=utf-8\r\n\r\n{lines}\r\nPlease help with mail {index}\r\n"
    ).encode()


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, str]]]:
    env = clean_environment() | {
        "SUPPORTBOT_DATA_DIR": str(tmp_path / "data"),
        "SUPPORTBOT_HTTP_PORT": str(free_port()),
        "SUPPORTBOT_SMTP_PORT": str(free_port()),
        **getattr(request, "param", {}),
    }
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen([str(SUPPORTBOT), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{env['SUPPORTBOT_HTTP_PORT']}"
    try:
        serve_log = (tmp_path / "serve.log").read_text

        def serving_and_healthy() -> httpx.Response | None:
            assert process.poll() is None, serve_log()
            return healthy(url)

        wait_until(serving_and_healthy, seconds=30, what="200 from /healthz", interval=0.1, explain=serve_log)
        yield url, env
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def send_and_watch(url: str, env: dict[str, str], mails: int, *, watch_after: float = 0.0) -> list[float]:
    """Sends ``mails`` deep mails at once; /healthz times until all are answered, ``watch_after`` s on."""
    replies: dict[int, tuple[int, bytes]] = {}

    def send(index: int) -> None:
        with smtplib.SMTP("127.0.0.1", int(env["SUPPORTBOT_SMTP_PORT"]), timeout=120) as client:
            client.ehlo()
            client.mail(f"eve{index}@example.com")
            client.rcpt("support@localhost")
            replies[index] = client.data(deep_mail(index))

    senders = [threading.Thread(target=send, args=(index,)) for index in range(mails)]
    for sender in senders:
        sender.start()
    waits: list[float] = []
    watch_until: float | None = None
    with httpx.Client(timeout=30.0) as http:
        while watch_until is None or time.monotonic() < watch_until:
            started = time.monotonic()
            response = http.get(f"{url}/healthz")
            waits.append(time.monotonic() - started)
            assert response.status_code == 200
            if watch_until is None and not any(sender.is_alive() for sender in senders):
                watch_until = time.monotonic() + watch_after
            time.sleep(0.05)
    for sender in senders:
        sender.join()

    assert sorted(code for code, _ in replies.values()) == [250] * mails, replies
    for index, (_, text) in replies.items():
        number = text.decode().split()[-1]
        shown = supportbot(env, "tickets", "show", number, "--format", "json")
        detail = json.loads(shown.stdout)
        assert detail["subject"] == f"Deep {index}"
        assert f"Please help with mail {index}" in detail["comments"][0]["body"]
    return waits


@pytest.mark.slow
def test_healthz_answers_within_a_second_while_deeply_nested_html_mail_is_processed(server):
    url, env = server
    waits = send_and_watch(url, env, MAILS)
    assert max(waits) < 1.0, waits  # it was 79 s


# The guard's bounds lifted, so nh3 really runs on each mail (about 20 s of work each); past
# the 1 s parse limit the mails are stored from a plain reading while nh3 goes on in the background.
UNGUARDED = {
    "SUPPORTBOT_EMAIL_MAX_HTML_DEPTH": "1000000",
    "SUPPORTBOT_EMAIL_MAX_HTML_ELEMENTS": "1000000",
    "SUPPORTBOT_EMAIL_PARSE_TIMEOUT_SECONDS": "1",
}


@pytest.mark.slow
@pytest.mark.parametrize("server", [UNGUARDED], indirect=True, ids=["unguarded"])
def test_healthz_answers_within_a_second_while_the_sanitizer_itself_runs_on_nested_html(server, tmp_path):
    url, env = server
    waits = send_and_watch(url, env, 2, watch_after=3.0)  # nh3 still runs all of these 3 s
    assert max(waits) < 1.0, waits
    log = (tmp_path / "serve.log").read_text()
    assert log.count("took over 1s; kept as text only") == 2, log[-3000:]
