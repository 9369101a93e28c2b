"""Upstream spam verdicts: the headers a filter (SpamAssassin, rspamd, ...) adds, believed
only when the mail came from where that filter runs.

Anyone can write ``X-Spam-Flag: YES`` into a message, and a sender's own filter may have
stamped it on the way out, so a verdict counts only from a trusted delivering host: an
SMTP peer in ``[email] spam_trusted_hosts`` (the MTA in front of us that ran the filter)
or an IMAP account whose server filters its own mail (``trust_spam_verdicts``). Patterns
are RE2: an admin's pattern runs on every stranger's header, in linear time.
"""

from __future__ import annotations

import ipaddress
from email import policy
from email.parser import BytesHeaderParser

import re2

from bot.config.channels import EmailSettings

# Headers only, and not many of them: a verdict is near the top, where the filter put it.
MAX_HEADER_BYTES = 256 * 1024
MAX_VALUE = 200


class SpamVerdicts:
    def __init__(self, options: EmailSettings) -> None:
        flags = re2.Options()
        flags.case_sensitive = False
        self.tests = [(test.header, re2.compile(test.pattern, flags)) for test in options.spam_headers]
        self.networks = [
            ipaddress.ip_network(host.strip(), strict=False)
            for host in options.spam_trusted_hosts.split(",")
            if host.strip()
        ]

    def trusted_peer(self, peer: str | None) -> bool:
        """Whether an SMTP client's address is one whose verdicts we believe."""
        if not peer:
            return False
        try:
            address = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def verdict(self, raw: bytes) -> str | None:
        """``Header: value`` of the first test the message's headers pass; None when none does."""
        if not self.tests:
            return None
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(_head(raw))
        for name, pattern in self.tests:
            # The topmost only: the one the trusted filter added last. Below it are the
            # sender's own (a filter of theirs, or a forger's), whatever they say.
            value = headers.get(name)
            text = " ".join(str(value).split()) if value is not None else ""
            if text and pattern.search(text):
                return f"{name}: {text[:MAX_VALUE]}"
        return None


def _head(raw: bytes) -> bytes:
    """The header block (up to the first empty line), bounded."""
    head = raw[:MAX_HEADER_BYTES]
    ends = [end for end in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if end >= 0]
    return head[: min(ends)] if ends else head
