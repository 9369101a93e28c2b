"""Channel-neutral messages: what came in (:class:`Inbound`) and what must go out (:class:`Outbound`).

Channels translate their protocol to and from these; the core never sees an
email object, a Slack payload or an HTTP request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Identity:
    """Who sent something, as far as the channel can tell."""

    email: str | None = None
    name: str | None = None
    slack_user_id: str | None = None


@dataclass(frozen=True, slots=True)
class IncomingFile:
    filename: str
    content_type: str
    data: bytes
    inline: bool = False
    # MIME Content-ID without its <>, by which the message's HTML shows an inline image (cid:).
    content_id: str | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message that arrived on a channel and should become a ticket or a comment.

    ``text`` is what the person wrote new; ``full_text`` the whole message
    (quoted history included) and ``source`` the raw bytes, both kept so a
    message that parsed badly is still on record.
    ``key`` makes :meth:`bot.desk.facade.Desk.receive` idempotent: the same key on the
    same channel is stored once (Message-ID, Slack event id, Idempotency-Key).
    ``references`` are external ids on the same channel that may already belong
    to a ticket (In-Reply-To/References, a Slack thread ts). ``ticket_number``
    names a ticket outright (a reply-address token, a slash command); it is
    only trusted to append when ``verified`` is true.
    """

    channel: str
    sender: Identity
    subject: str
    text: str
    key: str | None = None
    html: str | None = None
    full_text: str | None = None
    source: bytes | None = None
    attachments: tuple[IncomingFile, ...] = ()
    references: tuple[str, ...] = ()
    ticket_number: str | None = None
    verified: bool = False
    # The channel vouches for who the sender is: Slack's request signature, an API
    # token, the operator's terminal, or (email) a reply token that verifies for the
    # From address. Staff act on a ticket only when it does; a From header alone is
    # anyone's to write, so mail claiming to be an agent's is kept as a flagged note.
    authenticated: bool = False
    internal: bool = False
    auto_submitted: bool = False
    # The channel's own evidence that the sender is forged (DMARC failed).
    spoofed: bool = False
    # A delivery report: kept, never opens a ticket, never answered.
    bounce: bool = False
    # Others the message was addressed to (email Cc): followers of a new ticket.
    cc: tuple[Identity, ...] = ()
    priority: str | None = None
    category: str | None = None
    team: str | None = None
    # The support address it was sent to (email), if the channel has one.
    mailbox: str | None = None
    # Custom field values for a new ticket (a Slack modal, the API), checked by the core.
    fields: dict[str, Any] = field(default_factory=dict)
    # False for a message that only counts inside a known ticket's thread (a Slack
    # thread reply): when its references name no ticket it is ignored, not a new ticket.
    may_open: bool = True
    # True for a request that is a new ticket by definition (an API create): never
    # threaded onto another ticket by references or a subject tag.
    new_only: bool = False
    # Who handed the message in, when not its sender (a Slack message turned into a
    # ticket by someone else): they are on record as having opened it.
    submitted_by: Identity | None = None
    # The Outlook conversation the message belongs to (the base64 of its Thread-Index's
    # 22-byte root): a reply that kept nothing else finds its ticket by it, like References.
    conversation: str | None = None
    # An upstream filter's spam verdict the channel trusts ("X-Spam-Flag: YES"): the
    # message is suspended, not opened, unless it carries a verified reply token.
    spam: str | None = None
    # An agent released it from suspension: received as it came, with no suspension checks.
    released: bool = False
    # Who the transport says sent it (SMTP's MAIL FROM), when it differs from ``sender``:
    # a ban covers either.
    envelope_sender: str | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """What ``receive`` did, so the channel can answer (``250 2.0.0 SUP-1042``)."""

    ticket_number: str | None
    ticket_id: int | None
    comment_id: int | None
    created: bool
    duplicate: bool
    rule: str
    # Held back for an agent (spam, a banned sender, a flood): the suspended message's id.
    suspended_id: int | None = None


@dataclass(frozen=True, slots=True)
class Outbound:
    """One notification a sender must deliver, read back from the outbox."""

    notification_id: int
    channel: str
    recipient: str
    template: str
    context: dict[str, Any]
    dedupe_key: str
    recipient_name: str | None = None
    ticket_id: int | None = None
    # The ticket's earlier message ids on this channel, oldest first, and this
    # notification's own id, chosen by the core so replies can thread back.
    thread: tuple[str, ...] = field(default_factory=tuple)
    message_id: str | None = None
    # Where on the channel it goes (a Slack conversation), chosen by the core.
    conversation: str | None = None
    # Email: the ticket's Outlook conversation (the base64 of a Thread-Index's 22-byte
    # root), which the sender extends by a block per earlier message in ``thread``.
    thread_index: str | None = None
    # 1 on the first try: a sender that cannot write idempotently checks for an
    # earlier copy only when this is a retry.
    attempt: int = 1
