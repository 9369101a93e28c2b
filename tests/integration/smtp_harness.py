"""A real aiosmtpd server serving the protocol ``supportbot serve`` builds, driven by smtplib."""

from __future__ import annotations

import smtplib

from aiosmtpd.controller import Controller

from bot.config.settings import SmtpSettings
from channels.email.smtp_server import SupportHandler, protocol_factory
from tests.ports import free_port

LIMIT = 64 * 1024


class OurProtocol(Controller):
    """aiosmtpd's test controller, serving the protocol ``supportbot serve`` builds."""

    def __init__(
        self, handler: SupportHandler, settings: SmtpSettings, password: str | None = None, **kwargs: object
    ) -> None:
        self.make = protocol_factory(handler, settings, password)
        super().__init__(handler, **kwargs)

    def factory(self):
        return self.make()


class Smtp:
    def __init__(self, handler: SupportHandler) -> None:
        settings = SmtpSettings(max_message_bytes=LIMIT)
        self.controller = OurProtocol(handler, settings, hostname="127.0.0.1", port=free_port())

    def send(
        self, raw: bytes, *, sender: str = "bob@example.com", to: str = "support@localhost"
    ) -> tuple[int, str]:
        """The final reply to DATA, as the sending server would see it."""
        with smtplib.SMTP(self.controller.hostname, self.controller.port, timeout=30) as client:
            client.ehlo()
            code, _ = client.mail(sender)
            assert code == 250
            code, message = client.rcpt(to)
            if code != 250:
                return code, message.decode()
            code, message = client.data(raw)
            return code, message.decode()
