"""Hostile HTML mail against the real ``supportbot serve`` process: the server must stay responsive.

Six mails of about 500 KB, each a ``<div>`` nested 100,000 deep, arrive at
once over SMTP. Sanitizing one of them used to take nh3 about 20 s on a
thread of the event loop's default pool, which the HTTP side shares: every
``/healthz`` waited over a minute. Now ``/healthz`` must answer within 1 s
all the while, and each mail must still become a ticket with its text.
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

from tests.e2e.process import SUPPORTBOT, clean_environment, free_port, healthy, supportbot

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
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = clean_environment() | {
        "SUPPORTBOT_DATA_DIR": str(tmp_path / "data"),
        "SUPPORTBOT_HTTP_PORT": str(free_port()),
        "SUPPORTBOT_SMTP_PORT": str(free_port()),
    }
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen([str(SUPPORTBOT), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{env['SUPPORTBOT_HTTP_PORT']}"
    try:
        deadline = time.monotonic() + 30
        while healthy(url) is None:
            assert process.poll() is None and time.monotonic() < deadline, (
                tmp_path / "serve.log"
            ).read_text()
            time.sleep(0.1)
        yield url, env
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.mark.slow
def test_healthz_answers_within_a_second_while_deeply_nested_html_mail_is_processed(server):
    url, env = server
    replies: dict[int, tuple[int, bytes]] = {}

    def send(index: int) -> None:
        with smtplib.SMTP("127.0.0.1", int(env["SUPPORTBOT_SMTP_PORT"]), timeout=120) as client:
            client.ehlo()
            client.mail(f"eve{index}@example.com")
            client.rcpt("support@localhost")
            replies[index] = client.data(deep_mail(index))

    senders = [threading.Thread(target=send, args=(index,)) for index in range(MAILS)]
    for sender in senders:
        sender.start()
    waits: list[float] = []
    with httpx.Client(timeout=30.0) as http:
        while any(sender.is_alive() for sender in senders) or not waits:
            started = time.monotonic()
            response = http.get(f"{url}/healthz")
            waits.append(time.monotonic() - started)
            assert response.status_code == 200
            time.sleep(0.05)
    for sender in senders:
        sender.join()

    assert max(waits) < 1.0, waits  # it was 79 s
    assert sorted(code for code, _ in replies.values()) == [250] * MAILS, replies
    for index, (_, text) in replies.items():
        number = text.decode().split()[-1]
        shown = supportbot(env, "tickets", "show", number, "--format", "json")
        detail = json.loads(shown.stdout)
        assert detail["subject"] == f"Deep {index}"
        assert f"Please help with mail {index}" in detail["comments"][0]["body"]
