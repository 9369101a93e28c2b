"""``supportbot serve`` with Slack on: the same process takes mail, Slack's requests and posts to Slack."""

from __future__ import annotations

import json
import smtplib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.process import SUPPORTBOT, clean_environment, healthy
from tests.ports import free_port
from tests.slack_api import SlackApiStandIn, sign
from tests.waiting import wait_until

SECRET = "e2e-signing-secret"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int, Path, SlackApiStandIn]]:
    with SlackApiStandIn() as api:
        api.add_user("UAGENT", "agent@support.test", "Ann Agent")
        http, smtp = free_port(), free_port()
        env = clean_environment() | {
            "SUPPORTBOT_DATA_DIR": str(tmp_path / "data"),
            "SUPPORTBOT_HTTP_PORT": str(http),
            "SUPPORTBOT_SMTP_PORT": str(smtp),
            "SUPPORTBOT_OUTBOX_INTERVAL_SECONDS": "1",
            "SUPPORTBOT_SLACK_BOT_TOKEN": "xoxb-e2e",
            "SUPPORTBOT_SLACK_SIGNING_SECRET": SECRET,
            "SUPPORTBOT_SLACK_API_URL": api.base_url,
            "SUPPORTBOT_SLACK_SUPPORT_CHANNEL": "CSUPPORT",
        }
        added = subprocess.run(
            [str(SUPPORTBOT), "people", "add", "--email", "agent@support.test", "--role", "agent"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert added.returncode == 0, added.stderr
        log = (tmp_path / "serve.log").open("wb")
        process = subprocess.Popen([str(SUPPORTBOT), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{http}"
        try:
            serve_log = (tmp_path / "serve.log").read_text

            def serving_and_healthy() -> httpx.Response | None:
                assert process.poll() is None, serve_log()
                return healthy(url)

            wait_until(
                serving_and_healthy, seconds=20, what="200 from /healthz", interval=0.1, explain=serve_log
            )
            yield url, smtp, tmp_path / "data" / "outbox", api
        finally:
            process.terminate()
            process.wait(timeout=20)
            log.close()
        assert "Slack at http://127.0.0.1" in (tmp_path / "serve.log").read_text()


@pytest.mark.slow
def test_mail_gets_a_card_and_an_agents_thread_reply_is_mailed_back(served) -> None:
    url, smtp_port, outbox, api = served
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
        client.sendmail(
            "bob@example.com",
            ["support@localhost"],
            b"From: bob@example.com\r\nTo: support@localhost\r\nSubject: Printer on fire\r\n\r\nHelp!\r\n",
        )
    [card] = api.wait_for("chat.postMessage", timeout=20)[:1]
    assert card.params["channel"] == "CSUPPORT" and "SUP-1" in card.params["text"]
    root = "1700000000.000100"  # the stand-in's first ts: the card
    event = {
        "type": "event_callback",
        "event_id": "Ev1",
        "event": {
            "type": "message",
            "user": "UAGENT",
            "text": "A technician is on the way.",
            "channel": "CSUPPORT",
            "channel_type": "channel",
            "ts": "1800000000.000001",
            "thread_ts": root,
        },
    }
    body = json.dumps(event).encode()
    response = httpx.post(
        f"{url}/slack/events",
        content=body,
        headers={**sign(body, SECRET), "Content-Type": "application/json"},
        timeout=5,
        trust_env=False,
    )
    assert response.status_code == 200
    wait_until(
        lambda: any("technician" in p.read_text(errors="replace") for p in outbox.glob("*.eml")),
        seconds=20,
        what="the agent's reply mailed",
        interval=0.2,
    )
    forged = httpx.post(f"{url}/slack/events", content=body, headers={"Content-Type": "application/json"})
    assert forged.status_code == 401
