"""The ticket-sharing wire format (Zendesk's open "Networked Help Desk" API): pure parts.

Payloads are read leniently, the way the reference client (Zendesk's Ruby gem)
writes them: every field of its classes is sent, unset ones as ``null``, so a
``null`` here means "not provided", never "clear this". What cannot be read is
a :class:`ProtocolError` carrying the HTTP status the partner should get; it
is never 400 or 409, which the gem raises on instead of treating as a failure.
See ``../shared/ticket_sharing.md`` for the protocol and the choices made here.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

PENDING, ACCEPTED, DECLINED, INACTIVE = "pending", "accepted", "declined", "inactive"
AGREEMENT_STATUSES = (PENDING, ACCEPTED, DECLINED, INACTIVE)
SENDER, RECEIVER = "sender", "receiver"
# The protocol's ticket statuses (Zendesk's native set); nothing else is sent.
TICKET_STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
VERSION = "1"
TOKEN_HEADER = "X-Ticket-Sharing-Token"
VERSION_HEADER = "X-Ticket-Sharing-Version"
# Content types a partner may send JSON as (RT sends text/x-json); none at all is accepted too.
JSON_TYPES = ("application/json", "text/x-json", "text/json")
MAX_TOKEN = 200
MAX_URL = 2000
MAX_NAME = 200
MAX_SUBJECT = 1000
MAX_TAGS = 100
_TIME = "%Y-%m-%d %H:%M:%S %z"
# Safe in a URL path segment; the one rule every peer we know of keeps.
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~:-]+")
_KEY_CHARS = re.compile(r"[!-~]+")
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})$")


class ProtocolError(Exception):
    """What a partner sent cannot be taken; ``status`` is what it is answered with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- identifiers and secrets ------------------------------------------------------------


def resource_uuid(base_url: str, kind: str, local_id: int | str) -> str:
    """The walkthrough's scheme: SHA-1 of ``<base without scheme>/<kind>/<id>``, 40 hex.

    Stable, so sharing the same ticket again names the same resource.
    """
    parts = urlsplit(base_url)
    base = f"{parts.netloc}{parts.path}".rstrip("/")
    return hashlib.sha1(f"{base}/{kind}/{local_id}".encode()).hexdigest()


def new_secret() -> str:
    """A fresh agreement uuid or access key: 40 hex, as RT insists on."""
    return hashlib.sha1(secrets.token_bytes(32)).hexdigest()


def check_uuid(value: object, what: str, *, agreement: bool = False) -> str:
    """Any non-empty path-safe token, as the gem's short test ids are; no ``:`` in an
    agreement's (it is split off the token at the first colon)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TOKEN or not _TOKEN_CHARS.fullmatch(value):
        raise ProtocolError(422, f"{what} must be a non-empty URL-safe token without '/'")
    if not value.strip("."):  # "." and ".." would be normalised away in a URL path
        raise ProtocolError(422, f"{what} must not be made of dots only")
    if agreement and ":" in value:
        raise ProtocolError(422, f"{what} must not contain ':'")
    return value


def check_key(value: object) -> str:
    """An access key is opaque: any printable ASCII without spaces (it may hold a ``:``,
    which is why the token is split at the first one)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TOKEN or not _KEY_CHARS.fullmatch(value):
        raise ProtocolError(422, "access_key must be printable ASCII without spaces")
    return value


def split_token(header: str | None) -> tuple[str, str] | None:
    """``<agreement uuid>:<access key>``, split at the first colon; None when absent or unreadable."""
    if not header:
        return None
    uuid, sep, key = header.strip().partition(":")
    if not sep or not uuid or not key:
        return None
    return uuid, key


def token(uuid: str, access_key: str) -> str:
    return f"{uuid}:{access_key}"


def check_url(value: object, what: str, *, base: bool = True) -> str:
    """An http(s) URL kept exactly as given; a sharing ``base`` (paths are appended to it)
    also has no user, query or fragment. Where it may point is :mod:`bot.sharing.wire`'s call."""
    if not isinstance(value, str):
        raise ProtocolError(422, f"{what} must be a URL")
    url = value.strip().rstrip("/")
    refused = ProtocolError(422, f"{what} must be an http(s) URL of up to {MAX_URL} characters")
    # The text is kept as given, so what urlsplit would quietly drop (NUL, newlines) is refused.
    if any(ord(char) <= 32 or ord(char) == 127 for char in url):
        raise refused
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it checks it (port 99999 raises)
    except ValueError:
        raise refused from None
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL:
        raise refused
    # Paths are appended to a base: a query or fragment would swallow them; credentials do not belong.
    if base and (parts.username is not None or parts.password is not None or parts.query or "#" in url):
        raise ProtocolError(422, f"{what} must have no user, query or fragment")
    return url


def check_text(value: object) -> None:
    """Anywhere in a JSON value, keys included: no NUL (PostgreSQL refuses it in text and JSON)
    and nothing that is not UTF-8 (a lone surrogate from ``\\ud800``), which no store can keep."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ProtocolError(422, "text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ProtocolError(422, "text must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key)
            check_text(item)
    elif isinstance(value, list):
        for item in value:
            check_text(item)


def html_text(html: str) -> str:
    """The text of a partner's HTML comment; its markup is never rendered here."""
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    return re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip()


class _TextOnly(HTMLParser):
    _BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "blockquote", "pre"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


# -- timestamps --------------------------------------------------------------------------


def format_time(moment: datetime) -> str:
    """The gem's format, ``2010-11-24 14:13:54 -0800``: what every peer can read."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.strftime(_TIME)


def parse_time(value: object) -> datetime | None:
    """The gem's format, ISO 8601 (``Z``, offsets with or without a colon) or no offset (UTC)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError(422, f"{value!r} is not a timestamp")
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    offset = _OFFSET.search(text)
    zone: timezone = UTC
    refused = ProtocolError(422, f"{value!r} is not a timestamp")
    if offset:
        sign = -1 if offset.group(1) == "-" else 1
        hours, minutes = int(offset.group(2)), int(offset.group(3))
        if hours > 23 or minutes > 59:
            raise refused
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
        text = text[: offset.start()].strip()
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T", 1))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise refused from None


# -- payloads ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActorIn:
    uuid: str
    name: str
    role: str | None

    @property
    def agent(self) -> bool:
        """The gem's ``agent?``; an ``admin`` works tickets too."""
        return self.role in ("agent", "admin")


@dataclass(frozen=True, slots=True)
class AttachmentIn:
    url: str
    filename: str
    content_type: str | None


@dataclass(frozen=True, slots=True)
class CommentIn:
    uuid: str
    author: ActorIn | None
    body: str
    html: str | None
    authored_at: datetime | None
    # None: the partner did not say (the gem then means public; the agreement may still forbid it).
    public: bool | None
    attachments: tuple[AttachmentIn, ...] = ()


@dataclass(frozen=True, slots=True)
class AgreementIn:
    uuid: str
    access_key: str | None = None
    name: str | None = None
    sender_url: str | None = None
    receiver_url: str | None = None
    status: str | None = None
    deactivated_by: str | None = None
    current_actor: ActorIn | None = None
    sync_tags: bool | None = None
    sync_custom_fields: bool | None = None
    allows_public_comments: bool | None = None


@dataclass(frozen=True, slots=True)
class TicketIn:
    uuid: str
    subject: str | None = None
    requested_at: datetime | None = None
    status: str | None = None
    requester: ActorIn | None = None
    current_actor: ActorIn | None = None
    comments: tuple[CommentIn, ...] = ()
    tags: tuple[str, ...] | None = None
    original_id: str | None = None
    custom_fields: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def read_agreement(body: object, url_uuid: str) -> AgreementIn:
    data = _object(body, "agreement")
    uuid = data.get("uuid")
    if uuid is not None and uuid != url_uuid:
        raise ProtocolError(422, "the agreement's uuid differs from the one in the URL")
    status = _text(data, "status")
    if status is not None and status not in AGREEMENT_STATUSES:
        raise ProtocolError(
            422, f"unknown agreement status {status!r}; known: {', '.join(AGREEMENT_STATUSES)}"
        )
    deactivated_by = _text(data, "deactivated_by")
    if deactivated_by is not None and deactivated_by not in (SENDER, RECEIVER):
        raise ProtocolError(422, "deactivated_by must be 'sender' or 'receiver'")
    key = _text(data, "access_key")
    return AgreementIn(
        uuid=check_uuid(url_uuid, "the agreement uuid", agreement=True),
        access_key=check_key(key) if key is not None else None,
        name=_bounded(_text(data, "name"), MAX_NAME),
        sender_url=check_url(data["sender_url"], "sender_url") if data.get("sender_url") else None,
        receiver_url=check_url(data["receiver_url"], "receiver_url") if data.get("receiver_url") else None,
        status=status,
        deactivated_by=deactivated_by,
        current_actor=_actor(data.get("current_actor"), "current_actor"),
        sync_tags=_flag(data, "sync_tags"),
        sync_custom_fields=_flag(data, "sync_custom_fields"),
        allows_public_comments=_flag(data, "allows_public_comments"),
    )


def read_ticket(body: object, url_uuid: str) -> TicketIn:
    data = _object(body, "ticket")
    uuid = data.get("uuid")
    if uuid is not None and uuid != url_uuid:
        raise ProtocolError(422, "the ticket's uuid differs from the one in the URL")
    comments = data.get("comments")
    if comments is not None and not isinstance(comments, list):
        raise ProtocolError(422, "comments must be a list")
    tags = data.get("tags")
    if tags is not None and (not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags)):
        raise ProtocolError(422, "tags must be a list of strings")
    check_text(tags)
    fields = data.get("custom_fields")
    if fields is not None and not isinstance(fields, dict):
        raise ProtocolError(422, "custom_fields must be an object")
    check_text(fields)
    original = data.get("original_id")
    if original is not None and (isinstance(original, bool) or not isinstance(original, str | int)):
        raise ProtocolError(422, "original_id must be a string or a number")
    check_text(original)
    # custom_status (2023) names a Zendesk status of the sender's own; ours fall back to status.
    return TicketIn(
        uuid=check_uuid(url_uuid, "the ticket uuid"),
        subject=_bounded(_text(data, "subject"), MAX_SUBJECT),
        requested_at=parse_time(data.get("requested_at")),
        status=_text(data, "status"),
        requester=_actor(data.get("requester"), "requester"),
        current_actor=_actor(data.get("current_actor"), "current_actor"),
        comments=tuple(_comment(item, index) for index, item in enumerate(comments or [])),
        tags=tuple(tag.strip()[:100] for tag in tags if tag.strip())[:MAX_TAGS] if tags is not None else None,
        original_id=str(original)[:100] if original is not None else None,
        custom_fields=fields,
    )


def _object(body: object, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ProtocolError(422, f"the {what} must be a JSON object")
    return body


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError(422, f"{key} must be a string")
    check_text(value)
    return value


def _bounded(value: str | None, limit: int) -> str | None:
    return None if value is None else value.strip()[:limit]


def _flag(data: dict[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise ProtocolError(422, f"{key} must be true or false")


def _actor(value: object, what: str) -> ActorIn | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError(422, f"{what} must be an object with uuid and name")
    uuid = check_uuid(value.get("uuid"), f"{what}.uuid")
    name = _text(value, "name") or ""
    role = _text(value, "role")
    return ActorIn(uuid, name.strip()[:MAX_NAME], role)


def _comment(value: object, index: int) -> CommentIn:
    where = f"comments[{index}]"
    if not isinstance(value, dict):
        raise ProtocolError(422, f"{where} must be an object")
    body = _text(value, "body") or ""
    html = _text(value, "html_body")
    public = value.get("public")
    if public is not None and not isinstance(public, bool):
        raise ProtocolError(422, f"{where}.public must be true or false")
    files = value.get("attachments")
    files = [] if files is None else files
    if not isinstance(files, list):
        raise ProtocolError(422, f"{where}.attachments must be a list")
    return CommentIn(
        uuid=check_uuid(value.get("uuid"), f"{where}.uuid"),
        author=_actor(value.get("author"), f"{where}.author"),
        body=body,
        html=html,
        authored_at=parse_time(value.get("authored_at")),
        public=public,
        attachments=tuple(_attachment(item, f"{where}.attachments[{n}]") for n, item in enumerate(files)),
    )


def _attachment(value: object, where: str) -> AttachmentIn:
    if not isinstance(value, dict):
        raise ProtocolError(422, f"{where} must be an object")
    url, filename = _text(value, "url"), _text(value, "filename")
    if not url or not filename:
        raise ProtocolError(422, f"{where} needs url and filename")
    # Shown as a link in the comment: only a web address, never javascript: or file:.
    check_url(url, f"{where}.url", base=False)
    shown = _text(value, "display_filename") or filename
    return AttachmentIn(url[:MAX_URL], shown[:500], _text(value, "content_type"))
