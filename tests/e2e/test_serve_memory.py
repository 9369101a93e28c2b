"""The real ``supportbot serve`` keeps its memory while hundreds of megabytes are sent at it
chunked, with and without a token (issue 12, item 2: it used to read them whole first).

The peak resident size (``VmHWM`` in ``/proc/<pid>/status``) is read once the server
has answered a few requests of each kind, and again after 300 MB were sent to
``/api/v1/tickets`` without a token and 300 MB with one: it grows by less than 50 MB.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.process import SUPPORTBOT, clean_environment, healthy, supportbot
from tests.e2e.test_serve import Server, wait_for
from tests.ports import free_port
from tests.raw_http import CHUNK, Sender, head, read_response

MB = 1024 * 1024
AGENT = "ann@support.test"


def peak_memory(pid: int) -> int:
    """The process's peak resident set size so far, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    env = clean_environment() | {
        "SUPPORTBOT_DATA_DIR": str(tmp_path / "data"),
        "SUPPORTBOT_HTTP_PORT": str(free_port()),
        "SUPPORTBOT_SMTP_ENABLED": "false",
    }
    assert supportbot(env, "db", "upgrade").returncode == 0
    assert supportbot(env, "people", "add", "--email", AGENT, "--role", "agent").returncode == 0
    created = supportbot(env, "tokens", "create", "--person", AGENT)
    assert created.returncode == 0, created.stderr
    log = tmp_path / "serve.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [str(SUPPORTBOT), "serve"], env=env, stdout=handle, stderr=subprocess.STDOUT
        )
        server = Server(
            process, f"http://127.0.0.1:{env['SUPPORTBOT_HTTP_PORT']}", env, tmp_path / "data", log
        )
        try:
            # Generous: start-up (imports, migrations check) is slow on a loaded machine.
            wait_for(lambda: healthy(server.url), seconds=60, what="200 from /healthz", server=server)
            yield server, created.stdout.strip()
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def send_chunked(server: Server, total: int, *headers: str) -> tuple[int, int]:
    """POST ``total`` bytes chunked to /api/v1/tickets; the status and how much was sent."""
    port = int(server.env["SUPPORTBOT_HTTP_PORT"])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head("POST", "/api/v1/tickets", "Transfer-Encoding: chunked", *headers))
        sender = Sender(sock, total)
        status, _, body, closed = read_response(sock)
        sender.join()
    assert closed, (status, body, sender.sent, server.output()[-2000:])
    return status, sender.sent


@pytest.mark.slow
def test_peak_memory_holds_while_300_mb_arrive_chunked(served: tuple[Server, str]) -> None:
    server, token = served
    bearer = f"Authorization: Bearer {token}"
    json = "Content-Type: application/json"
    # Warm up: every path below runs once before the baseline is taken.
    created = httpx.post(
        f"{server.url}/api/v1/tickets",
        json={"subject": "Printer", "description": "On fire"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    assert send_chunked(server, 4 * MB)[0] == 401
    assert send_chunked(server, 4 * MB, bearer, json)[0] == 413
    baseline = peak_memory(server.process.pid)

    anonymous = send_chunked(server, 300 * MB)
    authenticated = send_chunked(server, 300 * MB, bearer, json)

    grown = peak_memory(server.process.pid) - baseline
    assert anonymous[0] == 401 and authenticated[0] == 413
    assert grown < 50 * MB, f"peak memory grew by {grown // MB} MB"
    # The server stopped taking the bodies rather than swallowing them.
    assert anonymous[1] < 300 * MB - CHUNK and authenticated[1] < 300 * MB - CHUNK
    # Still serving; waited for, as one /healthz may take over healthy()'s 2 s on a loaded machine.
    wait_for(
        lambda: healthy(server.url), seconds=30, what="200 from /healthz after the bodies", server=server
    )
