"""Delivering notification emails: into a folder of ``.eml`` files (the embedded default).

Each file is named by its notification id and written atomically, so a resend
after a crash replaces the same file instead of leaving a second copy.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bot.messages import Outbound
from bot.outbox import TransientDeliveryError
from bot.ports import Clock
from bot.render import Renderer
from bot.store.files import write_atomically
from channels.email.compose import Sender, compose

logger = logging.getLogger(__name__)


class EmlFolderSender:
    def __init__(self, folder: Path, renderer: Renderer, sender: Sender, clock: Clock) -> None:
        self.folder = folder
        self.renderer = renderer
        self.sender = sender
        self.clock = clock

    def path_for(self, outbound: Outbound) -> Path:
        return self.folder / f"{outbound.notification_id:08d}-{outbound.template}.eml"

    def send(self, outbound: Outbound) -> None:
        message = compose(outbound, self.renderer, self.sender, self.clock.now())
        target = self.path_for(outbound)
        try:
            write_atomically(target, message.as_bytes())
        except OSError as error:
            raise TransientDeliveryError(f"cannot write {target}: {error}") from error
        logger.info("notification %s written to %s", outbound.notification_id, target.name)
