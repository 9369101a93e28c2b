"""Running the real ``supportbot`` command in a child process, for the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

SUPPORTBOT = Path(sys.executable).with_name("supportbot")


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def clean_environment() -> dict[str, str]:
    """The test runner's environment without any SUPPORTBOT_* setting of the developer's, and
    without proxy variables: the server's Slack and SMTP clients talk to loopback stand-ins."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SUPPORTBOT_") and key.lower() not in PROXY_VARIABLES
    }


def supportbot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SUPPORTBOT), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def healthy(url: str) -> httpx.Response | None:
    try:
        response = httpx.get(f"{url}/healthz", timeout=2.0)
    except httpx.TransportError:
        return None
    return response if response.status_code == 200 else None
