"""HTTP/1.1 spoken over raw sockets, for the tests of hostile clients: chunked bodies that
do not stop, and responses read byte for byte, with whether the server closed after."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field

CHUNK = 64 * 1024


@dataclass
class Sender:
    """Sends a chunked body from a thread until done or the server stops taking it."""

    sock: socket.socket
    total: int
    prefix: bytes = b""  # the first chunk (a multipart part's head)
    sent: int = 0
    error: str = ""
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        block = b"%x\r\n%s\r\n" % (CHUNK, b"x" * CHUNK)
        try:
            if self.prefix:
                self.sock.sendall(b"%x\r\n%s\r\n" % (len(self.prefix), self.prefix))
            while self.sent < self.total:
                self.sock.sendall(block)
                self.sent += CHUNK
            self.sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, TimeoutError) as error:
            self.error = type(error).__name__

    def join(self) -> None:
        self.thread.join(60)
        assert not self.thread.is_alive(), "the sender hangs: the server neither reads nor closes"


def head(method: str, path: str, *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: supportbot.test", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket, probe: float | None = None) -> tuple[int, dict[str, str], bytes, bool]:
    """Status, headers, body, and whether the server then closed the connection.

    The response is read with the socket's own time-out. Whether the server closed is
    probed by one more read, for ``probe`` seconds if given (a kept-alive connection stays
    silent: the probe's time-out is the answer), else with the socket's time-out too."""
    data = b""
    closed = False
    while b"\r\n\r\n" not in data:
        block = sock.recv(65536)
        if not block:
            raise AssertionError(f"closed without a response: {data!r}")
        data += block
    raw_head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = raw_head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        block = sock.recv(65536)
        assert block, "closed in the middle of the response"
        body += block
    waited = sock.gettimeout()
    if probe is not None:
        sock.settimeout(probe)
    try:
        closed = sock.recv(1) == b""
    except ConnectionResetError:
        closed = True
    except TimeoutError:
        closed = False
    finally:
        sock.settimeout(waited)
    return int(status_line.split()[1]), headers, body, closed
