"""A client that sends its whole body before it reads gets the 413 (or 401) we answered early,
not a reset: the server shuts down its side and drops what still arrives for a while before
it closes (RFC 9112, 9.6), as browsers and curl rely on."""

from __future__ import annotations

import pytest

from tests.integration.api.test_http_hostile import LiveServer, live  # noqa: F401
from tests.raw_http import CHUNK, head, read_response

MB = 1024 * 1024


def send_all_then_read(server: LiveServer, total: int, *headers: str) -> tuple[int, bytes]:
    with server.connect(timeout=10) as sock:
        sock.sendall(head("POST", "/api/v1/tickets", "Transfer-Encoding: chunked", *headers))
        block = b"%x\r\n%s\r\n" % (CHUNK, b"x" * CHUNK)
        for _ in range(total // CHUNK):
            sock.sendall(block)
        sock.sendall(b"0\r\n\r\n")
        status, _, body, closed = read_response(sock)
    assert closed
    return status, body


@pytest.mark.parametrize("headers", [(), ("Authorization: Bearer " + "x" * 40,)])
def test_a_client_that_reads_only_after_sending_its_body_still_gets_the_answer(live, headers):  # noqa: F811
    status, body = send_all_then_read(live, 4 * MB, *headers)
    assert status == 401 and b"error" in body
