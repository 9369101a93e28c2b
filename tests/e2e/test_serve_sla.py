"""``supportbot serve`` sweeps the SLA by itself: a tiny target breaches and the ladder's mail goes out."""

from __future__ import annotations

import smtplib
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.process import SUPPORTBOT, clean_environment, healthy, supportbot
from tests.ports import free_port
from tests.waiting import wait_until


@pytest.mark.slow
def test_the_running_scheduler_sweeps_and_escalates(tmp_path: Path) -> None:
    http, smtp = free_port(), free_port()
    env = clean_environment() | {
        "SUPPORTBOT_DATA_DIR": str(tmp_path / "data"),
        "SUPPORTBOT_HTTP_PORT": str(http),
        "SUPPORTBOT_SMTP_PORT": str(smtp),
        "SUPPORTBOT_OUTBOX_INTERVAL_SECONDS": "1",
        "SUPPORTBOT_SLA_SWEEP_SECONDS": "1",
        "SUPPORTBOT_SLA_MEDIUM": "2s/4s",
        "SUPPORTBOT_ESCALATION_LEVELS": '[{"at": "100%", "notify": "email:oncall@example.com"}]',
    }
    assert supportbot(env, "people", "add", "--email", "ann@support.test", "--role", "agent").returncode == 0
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen([str(SUPPORTBOT), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        serve_log = (tmp_path / "serve.log").read_text

        def serving_and_healthy() -> httpx.Response | None:
            assert process.poll() is None, serve_log()
            return healthy(f"http://127.0.0.1:{http}")

        wait_until(serving_and_healthy, seconds=20, what="200 from /healthz", interval=0.1, explain=serve_log)
        with smtplib.SMTP("127.0.0.1", smtp, timeout=30) as client:
            client.sendmail(
                "bob@example.com",
                ["support@localhost"],
                b"From: bob@example.com\r\nTo: support@localhost\r\nSubject: Printer\r\n\r\nHelp\r\n",
            )
        outbox = tmp_path / "data" / "outbox"
        wait_until(
            lambda: any("oncall@example.com" in p.read_text(errors="replace") for p in outbox.glob("*.eml")),
            seconds=30,
            what="the escalation mailed to oncall@example.com",
            interval=0.2,
            explain=serve_log,
        )
        shown = supportbot(env, "tickets", "show", "SUP-1", "--format", "json")
        assert '"sla_status": "breached"' in shown.stdout and '"escalation_level": 1' in shown.stdout
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
