"""Run by test_concurrency in child processes: open tickets from several threads at once.

Usage: python -m tests.integration.create_tickets DATABASE_URL DATA_DIR COUNT THREADS GO_FILE
Waits for GO_FILE to exist so that every process starts at the same moment,
then prints one ticket number per line.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.clock import SystemClock
from bot.config.settings import load
from bot.desk.facade import Desk
from bot.messages import Identity, Inbound
from bot.store.db import Store


def main() -> None:
    url, data_dir, count, threads, go = (
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]),
        int(sys.argv[4]),
        Path(sys.argv[5]),
    )
    settings = load(None, {"SUPPORTBOT_DATA_DIR": data_dir, "SUPPORTBOT_DATABASE_URL": url})
    store = Store(url, pool_size=threads)
    desk = Desk(store, SystemClock(), settings)
    pid = os.getpid()

    def open_one(i: int) -> str:
        inbound = Inbound(
            channel="email",
            sender=Identity(email=f"user{i % 50}@example.com"),
            subject=f"process {pid} ticket {i}",
            text="load",
            key=f"<{pid}.{i}@load>",
        )
        return desk.receive(inbound).ticket_number

    deadline = time.monotonic() + 60
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("never told to go")
        time.sleep(0.005)
    with ThreadPoolExecutor(threads) as pool:
        numbers = list(pool.map(open_one, range(count)))
    store.dispose()
    print("\n".join(numbers))


if __name__ == "__main__":
    main()
