"""Per-ticket reply addresses: ``support+SUP-1042.<token>@example.com``.

The token is an HMAC of the ticket number and the recipient's address, so a
reply to it proves the writer got our notification; a guessed or copied
address with the wrong sender does not verify. Tokens are lower-case base32
because some mail systems fold the case of local parts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

TOKEN_LENGTH = 16  # 80 bits: enough against guessing, short enough for a header


@dataclass(frozen=True, slots=True)
class Recipient:
    """An envelope recipient split into the mailbox it names and the ticket tag, if any."""

    mailbox: str
    number: str | None = None
    token: str | None = None


def token_for(secret: bytes, number: str, email: str) -> str:
    digest = hmac.new(secret, f"{number.upper()}\0{email.strip().lower()}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:TOKEN_LENGTH]


def reply_address(mailbox: str, number: str, email: str, secret: bytes) -> str:
    local, _, domain = mailbox.partition("@")
    return f"{local}+{number.lower()}.{token_for(secret, number, email)}@{domain}"


def parse_recipient(address: str) -> Recipient:
    """``support+sup-12.abc@x`` -> mailbox ``support@x``, number ``SUP-12``, token ``abc``."""
    local, at, domain = address.strip().strip("<>").lower().rpartition("@")
    if not at:
        return Recipient(address.strip().lower())
    base, plus, tag = local.partition("+")
    if not plus:
        return Recipient(f"{local}@{domain}")
    number, dot, token = tag.partition(".")
    return Recipient(f"{base}@{domain}", number.upper() or None, token or None if dot else None)


def verify(secret: bytes, number: str, email: str, token: str) -> bool:
    return hmac.compare_digest(token_for(secret, number, email), token.lower())
