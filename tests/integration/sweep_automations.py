"""Run by the automation tests in child processes: sweep the time-based rules of one database
as if at a given time.

Usage: python -m tests.integration.sweep_automations DATABASE_URL DATA_DIR AT_ISO GO_FILE
Waits for GO_FILE so the processes start together; prints how many rules fired.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

from bot.config.settings import load
from bot.desk.facade import Desk
from bot.store.db import Store
from tests.fakes import FakeClock


def main() -> None:
    url, data_dir, at, go = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3]), Path(sys.argv[4])
    settings = load(None, {"SUPPORTBOT_DATA_DIR": data_dir, "SUPPORTBOT_DATABASE_URL": url})
    store = Store(url)
    desk = Desk(store, FakeClock(at), settings)
    while not go.exists():
        time.sleep(0.01)
    fired = 0
    for _ in range(5):  # several rounds at once, as several schedulers would
        fired += desk.automation_sweep(batch=20).fired
    print(fired)
    store.dispose()


if __name__ == "__main__":
    main()
