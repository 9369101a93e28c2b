"""A local stand-in for Slack's Web API and response_url, for integration tests and the benchmark.

bolt-python's own scenario tests answer Web API calls with a local HTTP server; we do the
same, so no test reaches slack.com. Point the real ``slack_sdk`` clients at it with
``base_url=stand_in.base_url``; every request is recorded, and faults (429, 5xx, Slack
errors) or delays can be queued per method.

Socket Mode is answered too: ``apps.connections.open`` hands out a ``ws://`` URL on a small
aiohttp server (its own thread and loop) that greets each client with ``hello``, sends the
envelopes a test gives to :meth:`SlackApiStandIn.socket_send` and records the client's acks.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiohttp import WSMsgType, web
from slack_sdk.signature import SignatureVerifier

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@dataclass(frozen=True, slots=True)
class Call:
    """One request: ``method`` is a Web API method or ``response:<name>``; ``at`` is time.monotonic()."""

    method: str
    params: dict[str, Any]
    token: str | None
    at: float
    failed: bool = False


@dataclass(frozen=True, slots=True)
class _Fault:
    status: int
    error: str | None
    retry_after: int | None


class SlackApiStandIn:
    """A ThreadingHTTPServer on 127.0.0.1 answering like slack.com/api/ and a response_url."""

    bot_user_id = "UBOT"
    bot_id = "BBOT"

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._calls: list[Call] = []
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._delays: dict[str, float] = {}
        self._users: dict[str, dict[str, Any]] = {}
        # What was posted, per conversation, as conversations.history/replies give it back.
        self._messages: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._ts = 0
        self._views = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._socket = _SocketModeServer(self._lock)

    def __enter__(self) -> SlackApiStandIn:
        handler = type("_BoundHandler", (_Handler,), {"stand_in": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # A short poll interval, since shutdown() waits up to one interval in every test's teardown.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="slack-api", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._socket.stop()

    @property
    def _origin(self) -> str:
        if self._server is None:
            raise RuntimeError("SlackApiStandIn is not started; use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        return f"{self._origin}/api/"  # slack_sdk joins method names onto it, so the slash matters

    def response_url(self, name: str = "r1") -> str:
        return f"{self._origin}/response/{name}"

    def add_user(
        self, user_id: str, email: str, name: str = "", *, is_bot: bool = False, deleted: bool = False
    ) -> None:
        name = name or email.partition("@")[0]
        profile = {"email": email, "real_name": name, "display_name": name}
        user = {"id": user_id, "name": name, "real_name": name, "is_bot": is_bot, "deleted": deleted}
        with self._lock:
            self._users[user_id] = {**user, "profile": profile}

    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Queue ``times`` failed answers for ``method``; they are used up in order."""
        with self._lock:
            self._faults[method].extend([_Fault(status, error, retry_after)] * times)

    def slow(self, method: str, seconds: float) -> None:
        with self._lock:
            self._delays[method] = seconds

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [call for call in self._calls if method is None or call.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.calls(method)) >= count, timeout):
                seen = dict(Counter(call.method for call in self._calls))
                raise AssertionError(f"expected {count} x {method} within {timeout}s; recorded: {seen}")
            return self.calls(method)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    # -- Socket Mode -----------------------------------------------------------------

    def socket_send(self, envelope: dict[str, Any]) -> None:
        """Send ``envelope`` as one text frame to the most recently connected client."""
        self._socket.send(envelope)

    def socket_acks(self) -> list[dict[str, Any]]:
        """Every message the clients sent back, decoded, in order."""
        with self._lock:
            return list(self._socket.acks)

    def wait_socket_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        def ack() -> dict[str, Any] | None:
            return next((a for a in self._socket.acks if a.get("envelope_id") == envelope_id), None)

        with self._lock:
            if not self._lock.wait_for(lambda: ack() is not None, timeout):
                raise AssertionError(f"no ack for envelope {envelope_id} within {timeout}s")
            found = ack()
            assert found is not None
            return found

    def wait_socket_connected(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``count`` WebSocket connections have been opened since the start."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._socket.connections >= count, timeout):
                seen = self._socket.connections
                raise AssertionError(f"expected {count} Socket Mode connections within {timeout}s; {seen}")

    def _record(self, method: str, params: dict[str, Any], token: str | None) -> tuple[_Fault | None, float]:
        """Record a call on arrival; return the fault to answer with, if any, and the delay."""
        with self._lock:
            queue = self._faults.get(method)
            fault = queue.popleft() if queue else None
            call = Call(method, params, token, time.monotonic(), failed=fault is not None)
            self._calls.append(call)
            self._lock.notify_all()
            return fault, self._delays.get(method, 0.0)

    def _next_ts(self) -> str:
        with self._lock:
            self._ts += 1
            micros = 1_700_000_000_000_000 + self._ts * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if method == "auth.test":
            return {
                "user_id": self.bot_user_id,
                "bot_id": self.bot_id,
                "team_id": "T0001",
                "team": "Acme",
                "user": "supportbot",
                "url": "https://acme.slack.com/",
            }
        if method == "apps.connections.open":
            return {"url": self._socket.start()}
        if method == "chat.postMessage":
            ts = self._next_ts()
            message = {"type": "message", "text": params.get("text", ""), "ts": ts, "bot_id": self.bot_id}
            message |= {key: params[key] for key in ("thread_ts", "blocks", "metadata") if key in params}
            with self._lock:
                self._messages[str(channel)].append(message)
            return {"channel": channel, "ts": ts, "message": message}
        if method in ("conversations.history", "conversations.replies"):
            with self._lock:
                posted = list(self._messages.get(str(channel), []))
            if method == "conversations.history":  # top-level messages, newest first
                return {"messages": [m for m in reversed(posted) if "thread_ts" not in m], "has_more": False}
            root = params.get("ts")
            thread = [m for m in posted if m["ts"] == root or m.get("thread_ts") == root]
            return {"messages": thread, "has_more": False}
        if method == "chat.update":
            return {"channel": channel, "ts": params.get("ts"), "text": params.get("text", "")}
        if method == "chat.postEphemeral":
            return {"message_ts": self._next_ts()}
        if method == "chat.getPermalink":
            ts = str(params.get("message_ts", "")).replace(".", "")
            return {"channel": channel, "permalink": f"https://acme.slack.com/archives/{channel}/p{ts}"}
        if method == "conversations.open":
            user_id = str(params.get("users", "")).split(",")[0]
            return {"channel": {"id": "D" + user_id[1:]}}
        if method == "users.info":
            with self._lock:
                user = self._users.get(str(params.get("user")))
            return {"user": user} if user else {"ok": False, "error": "user_not_found"}
        if method in ("views.open", "views.publish", "views.update"):
            view = params.get("view")
            with self._lock:
                self._views += 1
                view_id = params.get("view_id") or f"V{self._views}"
            return {"view": {"id": view_id, **(view if isinstance(view, dict) else {})}}
        return {}


class _Handler(BaseHTTPRequestHandler):
    stand_in: SlackApiStandIn

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the recorded calls, not the access log."""

    def _handle(self) -> None:
        url = urlsplit(self.path)
        params = _decode(dict(parse_qsl(url.query, keep_blank_values=True)))
        params |= self._body()
        if url.path.startswith("/api/"):
            method = url.path.removeprefix("/api/")
        elif url.path.startswith("/response/"):
            method = "response:" + url.path.removeprefix("/response/")
        else:
            self._send(404, b"not found", "text/plain")
            return
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else params.get("token")
        fault, delay = self.stand_in._record(method, params, token)
        time.sleep(delay)
        if fault is not None:
            error = fault.error or ("ratelimited" if fault.status == 429 else "fatal_error")
            extra = {"Retry-After": str(fault.retry_after or 1)} if fault.status == 429 else {}
            self._send(fault.status, json.dumps({"ok": False, "error": error}).encode(), **extra)
        elif method.startswith("response:"):
            self._send(200, b"ok", "text/plain")
        else:
            answer = {"ok": True} | self.stand_in._answer(method, params)
            self._send(200, json.dumps(answer).encode())

    def _body(self) -> dict[str, Any]:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not raw:
            return {}
        content_type = self.headers.get_content_type()
        if content_type == "application/json":
            parsed = json.loads(raw)
            return parsed if isinstance(parsed, dict) else {"payload": parsed}
        if content_type == "application/x-www-form-urlencoded":
            return _decode(dict(parse_qsl(raw.decode(), keep_blank_values=True)))
        return {"body": raw.decode(errors="replace")}

    def _send(self, status: int, body: bytes, content_type: str = "application/json", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _SocketModeServer:
    """Slack's end of Socket Mode at ``/link``: started by the first ``apps.connections.open``.

    Shares the stand-in's lock, so its waits see acks and connections as they arrive.
    """

    def __init__(self, lock: threading.Condition) -> None:
        self._lock = lock
        self._start_lock = threading.Lock()
        self.acks: list[dict[str, Any]] = []
        self.connections = 0
        self._url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._sockets: list[web.WebSocketResponse] = []

    def start(self) -> str:
        """The URL to connect to, serving from now on."""
        with self._start_lock:
            if self._url is None:
                ready = threading.Event()
                self._thread = threading.Thread(
                    target=asyncio.run, args=(self._serve(ready),), name="slack-socket", daemon=True
                )
                self._thread.start()
                if not ready.wait(10) or self._url is None:
                    raise RuntimeError("the Socket Mode stand-in did not start")
            return self._url

    def stop(self) -> None:
        with self._start_lock:
            if self._thread is None:
                return
            assert self._loop is not None and self._stopping is not None
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(timeout=10)
            self._thread = None

    def send(self, envelope: dict[str, Any]) -> None:
        with self._lock:
            socket = next((ws for ws in reversed(self._sockets) if not ws.closed), None)
        if socket is None or self._loop is None:
            raise AssertionError("no Socket Mode client is connected")
        asyncio.run_coroutine_threadsafe(socket.send_json(envelope), self._loop).result(timeout=10)

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_get("/link", self._link)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self._url = f"ws://127.0.0.1:{port}/link"
        ready.set()
        try:
            await self._stopping.wait()
        finally:
            with self._lock:
                sockets = list(self._sockets)
            for socket in sockets:  # a client the test did not stop; goodbye as Slack would
                await socket.close()
            await runner.cleanup()

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        # autoping answers the client's pings: slack_sdk reconnects when its pings go unanswered.
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        with self._lock:
            self._sockets.append(socket)
            self.connections += 1
            self._lock.notify_all()
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "applink-stand-in", "approximate_connection_time": 18060},
            "connection_info": {"app_id": "A0001"},
        }
        await socket.send_json(hello)
        try:
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    continue
                ack = json.loads(message.data)
                with self._lock:
                    self.acks.append(ack if isinstance(ack, dict) else {"message": ack})
                    self._lock.notify_all()
        finally:
            with self._lock:
                self._sockets.remove(socket)
        return socket


def _decode(fields: dict[str, str]) -> dict[str, Any]:
    """Form values like ``blocks`` carry JSON text; give tests the objects."""
    decoded: dict[str, Any] = {}
    for key, value in fields.items():
        decoded[key] = value
        if value[:1] in ("[", "{"):
            try:
                parsed = json.loads(value)
            except ValueError:
                continue
            if isinstance(parsed, list | dict):
                decoded[key] = parsed
    return decoded


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack adds to a request it sends us; the caller sets Content-Type."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


def clear_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """slack_sdk clients read HTTP(S)_PROXY when built and ignore NO_PROXY, so loopback needs none."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def slack_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackApiStandIn]:
    clear_proxy_environment(monkeypatch)
    with SlackApiStandIn() as stand_in:
        yield stand_in
