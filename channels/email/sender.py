"""Delivering notification emails: through an SMTP relay, or into a folder of ``.eml`` files.

The folder is the embedded default: each file is named by its notification id
and written atomically, so a resend after a crash replaces the same file.
The relay sender tells the outbox whether a failure is worth retrying
(connection trouble, 4xx) or not (5xx: the relay refused the recipient).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from pathlib import Path

from bot.config.channels import RelaySettings
from bot.messages import Outbound
from bot.notify.outbox import PermanentDeliveryError, TransientDeliveryError
from bot.notify.render import Renderer
from bot.ports import Clock
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


class SmtpRelaySender:
    def __init__(
        self,
        relay: RelaySettings,
        password: str | None,
        renderer: Renderer,
        sender: Sender,
        clock: Clock,
        *,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.relay = relay
        self.password = password
        self.renderer = renderer
        self.sender = sender
        self.clock = clock
        self.tls_context = tls_context or ssl.create_default_context()

    def send(self, outbound: Outbound) -> None:
        message = compose(outbound, self.renderer, self.sender, self.clock.now())
        where = f"{self.relay.host}:{self.relay.port}"
        try:
            with smtplib.SMTP(self.relay.host, self.relay.port, timeout=self.relay.timeout_seconds) as smtp:
                smtp.ehlo()
                if self.relay.starttls:
                    smtp.starttls(context=self.tls_context)
                    smtp.ehlo()
                if self.relay.user and self.password is not None:
                    smtp.login(self.relay.user, self.password)
                smtp.send_message(message, from_addr=self.sender.address, to_addrs=[outbound.recipient])
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            raise _failure(code, f"{where} refused {outbound.recipient}: {code} {reply!r}") from error
        except smtplib.SMTPResponseException as error:
            raise _failure(
                error.smtp_code, f"{where} answered {error.smtp_code} {error.smtp_error!r}"
            ) from error
        except (OSError, smtplib.SMTPException) as error:
            raise TransientDeliveryError(f"{where}: {error!r}") from error
        logger.info("notification %s relayed through %s", outbound.notification_id, where)


def _failure(code: int, text: str) -> Exception:
    """5xx is final (bad recipient, refused content, failed login); anything else may pass later."""
    return PermanentDeliveryError(text) if 500 <= code < 600 else TransientDeliveryError(text)
