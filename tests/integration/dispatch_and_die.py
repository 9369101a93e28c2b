"""Run by test_outbox in a child process: claim the due notifications, then die by SIGKILL mid-send.

Usage: python -m tests.integration.dispatch_and_die DATABASE_URL ISO_TIME
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime

from bot.config.settings import OutboxSettings
from bot.messages import Outbound
from bot.notify.outbox import Dispatcher
from bot.store.db import Store
from tests.fakes import FakeClock


class DieWhileSending:
    def send(self, outbound: Outbound) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    url, when = sys.argv[1], datetime.fromisoformat(sys.argv[2])
    dispatcher = Dispatcher(Store(url), FakeClock(when), {"email": DieWhileSending()}, OutboxSettings())
    dispatcher.run_once()
    raise SystemExit("the sender should have killed this process")


if __name__ == "__main__":
    main()
