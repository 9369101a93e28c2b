"""SQLAlchemy 2 tables of the ticket store.

Ticket numbers are the ticket's own primary key behind a prefix: a database
sequence (PostgreSQL) or AUTOINCREMENT (SQLite) hands out each value once,
so two processes creating tickets at the same moment never share a number.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.store.types import JsonType, UtcDateTime

# The at-risk and breached tickets (``ix_tickets_sla_attention``), as SQL both stores read.
SLA_ATTENTION = "sla_status IN ('at_risk', 'breached')"
# The tickets with a time-based rule to look at (``ix_tickets_automation_check_at``); a query's
# ``automation_check_at <= :now`` implies it, which both planners see.
AUTOMATION_DUE = "automation_check_at IS NOT NULL"
# The tickets whose mail carries an Outlook conversation (``ix_tickets_thread_index``).
HAS_THREAD_INDEX = "thread_index IS NOT NULL"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JsonType}


def table_of(model: type[Base]) -> Table:
    """A mapped class's table, typed as one, for the hot paths' Core statements."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # The last agent handed a ticket by round-robin; the next one follows.
    # A plain id, not a foreign key: people and teams point at each other, and a
    # stale cursor after a person leaves only means the rotation restarts.
    last_assigned_id: Mapped[int | None]
    # Who the escalation ladder's "team lead" step reaches (a plain id, as above).
    lead_id: Mapped[int | None]
    created_at: Mapped[datetime]


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    slack_user_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20), default="requester")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    # argon2id, for signing in to the web desk; None: no password (a link or SSO only).
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    team: Mapped[Team | None] = relationship(foreign_keys=[team_id], lazy="joined")


class Category(Base):
    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(primary_key=True)
    # "Network/VPN": unique, so subcategory names may repeat under other parents.
    path: Mapped[str] = mapped_column(String(400), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]


ticket_tags = Table(
    "ticket_tags",
    Base.metadata,
    Column("ticket_id", ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


ticket_followers = Table(
    "ticket_followers",
    Base.metadata,
    Column("ticket_id", ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("person_id", ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
)


class Tag(Base):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_priority", "status", "priority"),
        # The SLA sweep reads only tickets whose next check is due: its cost follows
        # the number due, not the number open.
        Index("ix_tickets_sla_next_check_at", "sla_next_check_at"),
        # Reports select tickets by when they were opened.
        Index("ix_tickets_created_at", "created_at"),
        # A requester's tickets (their list, "my tickets"), and how many they opened lately
        # (the burst limit counts the last hour's as a range of this index).
        Index("ix_tickets_requester_created", "requester_id", "created_at"),
        # The tickets that need attention, few among many: the at-risk and breached queues.
        # Partial, with the condition queries repeat word for word (read.queries), so SQLite's
        # planner, which knows no value's share of a column, still sees a small index.
        # The automation sweep likewise reads only tickets with a time-based rule due. Partial:
        # most tickets never have one, and a new ticket then costs no index entry.
        Index(
            "ix_tickets_automation_check_at",
            "automation_check_at",
            sqlite_where=text(AUTOMATION_DUE),
            postgresql_where=text(AUTOMATION_DUE),
        ),
        Index(
            "ix_tickets_sla_attention",
            "sla_status",
            sqlite_where=text(SLA_ATTENTION),
            postgresql_where=text(SLA_ATTENTION),
        ),
        # An Outlook reply that kept only its Thread-Index finds its ticket by this. Partial:
        # only tickets that mail has touched have one.
        Index(
            "ix_tickets_thread_index",
            "thread_index",
            sqlite_where=text(HAS_THREAD_INDEX),
            postgresql_where=text(HAS_THREAD_INDEX),
        ),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(1000))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(30), default="open")
    priority: Mapped[str] = mapped_column(String(20), default="medium")
    channel: Mapped[str] = mapped_column(String(30))
    # The support address it came in through; its notifications go out from there.
    mailbox: Mapped[str | None] = mapped_column(String(320))
    requester_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    # Indexed for the queues: "my team's" and the at-risk and breached tabs count by these.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(index=True)
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # SLA clocks (bot/sla/calendar.py): the policy in force, when the first agent answered,
    # business seconds spent paused (waiting on the customer), the due times and
    # status as last evaluated, and when the sweep must look again.
    sla_policy: Mapped[str | None] = mapped_column(String(100))
    first_response_at: Mapped[datetime | None]
    # Business seconds paused before the first response: a late answer stays late after a pause.
    first_response_paused_seconds: Mapped[float | None] = mapped_column(Float)
    first_response_due: Mapped[datetime | None]
    resolution_due: Mapped[datetime | None]
    sla_paused_since: Mapped[datetime | None]
    sla_paused_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    sla_status: Mapped[str | None] = mapped_column(String(20))
    # When a target was first missed: a breach stays a breach whatever changes after.
    sla_breached_at: Mapped[datetime | None]
    sla_next_check_at: Mapped[datetime | None]
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_customer_message_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]
    # When each state began, for time-based automation rules ("waiting_customer for 3 days",
    # "unassigned for 30 minutes") and their "hours since" conditions; set with the change.
    status_changed_at: Mapped[datetime | None]
    assignment_changed_at: Mapped[datetime | None]
    requester_replied_at: Mapped[datetime | None]
    agent_replied_at: Mapped[datetime | None]
    # The next instant a time-based rule may be due for this ticket (bot.automation.timers).
    automation_check_at: Mapped[datetime | None]
    # The Outlook conversation its mail belongs to: the 22-byte root of a Thread-Index, in
    # base64 (ours, or the one the requester's first message started), which every mail we
    # send on the ticket extends (bot.thread_index).
    thread_index: Mapped[str | None] = mapped_column(String(32))

    requester: Mapped[Person] = relationship(foreign_keys=[requester_id], lazy="joined")
    assignee: Mapped[Person | None] = relationship(foreign_keys=[assignee_id], lazy="joined")
    team: Mapped[Team | None] = relationship(foreign_keys=[team_id], lazy="joined")
    category: Mapped[Category | None] = relationship(lazy="joined")
    tags: Mapped[list[Tag]] = relationship(secondary=ticket_tags, lazy="selectin")
    # People copied on the ticket (Cc of the first email): they hear agents' replies
    # and may write on it like the requester.
    followers: Mapped[list[Person]] = relationship(secondary=ticket_followers, lazy="selectin")


class CustomField(Base):
    __tablename__ = "custom_fields"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(30))
    # Choices for dropdown / multiple_choice; min, max, pattern, max_length for the rest.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class CustomFieldValue(Base):
    __tablename__ = "custom_field_values"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    field_id: Mapped[int] = mapped_column(
        ForeignKey("custom_fields.id", ondelete="CASCADE"), primary_key=True
    )
    # Wrapped as {"v": value} so numbers, dates and lists share one JSON column.
    value: Mapped[dict[str, Any]]
    field: Mapped[CustomField] = relationship(lazy="joined")


class Comment(Base):
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set when the core could not trust the sender to act on this ticket.
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    channel: Mapped[str] = mapped_column(String(30))
    external_id: Mapped[str | None] = mapped_column(String(998))
    # The whole message as written (quoted history and signature included) when
    # ``body`` holds only its new part, and the raw bytes it came as, by hash.
    full_body: Mapped[str | None] = mapped_column(Text)
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    # Sent by a robot (an auto-reply, a bounce, another system's acknowledgement): what an
    # address has only ever sent us this way marks it as a machine.
    auto_submitted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime]
    author: Mapped[Person | None] = relationship(lazy="joined")


class Attachment(Base):
    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id"), index=True)
    filename: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
    # The MIME Content-ID of an inline part (without <>): the message's HTML shows it as cid:...
    content_id: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]


class ThreadRef(Base):
    """An external id (Message-ID, Slack ts, Idempotency-Key) that belongs to a ticket.

    Unique per channel: this is what makes ``receive`` idempotent and what
    threads a reply to its ticket.
    """

    __tablename__ = "thread_refs"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(30))
    external_id: Mapped[str] = mapped_column(String(998))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id"))
    direction: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime]


class Event(Base):
    """The audit log: who changed what on which ticket, before and after."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    actor: Mapped[str] = mapped_column(String(400))
    kind: Mapped[str] = mapped_column(String(50))
    before: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(index=True)


class Notification(Base):
    """The transactional outbox: written with the change, sent after commit."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_due", "status", "next_attempt_at"),
        # The acknowledgement limit counts one recipient's recent acknowledgements.
        Index("ix_notifications_recipient_template", "recipient", "template", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    channel: Mapped[str] = mapped_column(String(30))
    recipient: Mapped[str] = mapped_column(String(400))
    recipient_name: Mapped[str | None] = mapped_column(String(200))
    template: Mapped[str] = mapped_column(String(100))
    context: Mapped[dict[str, Any]]
    thread: Mapped[dict[str, Any]]
    dedupe_key: Mapped[str] = mapped_column(String(400), unique=True)
    # The id the message went out with (email Message-ID), so a bounce can name it.
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(40))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class NotificationPref(Base):
    """How one person wants to hear about one kind of event: email, slack, both or none."""

    __tablename__ = "notification_prefs"
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    event: Mapped[str] = mapped_column(String(30), primary_key=True)
    channels: Mapped[str] = mapped_column(String(10))


class JobMark(Base):
    """Where a periodic job got to (the last audit event exported), shared by every process."""

    __tablename__ = "job_marks"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime | None]


class Escalation(Base):
    """One row per ticket and ladder level, so a level is sent once however many sweep."""

    __tablename__ = "escalations"
    __table_args__ = (UniqueConstraint("ticket_id", "level"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    level: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class WebSession(Base):
    """A signed-in browser: the cookie's SHA-256, whose person, and the role it was opened
    with (a session whose person's role has changed since is over)."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class SignInLink(Base):
    """A one-time sign-in link sent by email: its token's SHA-256 and the address it went to."""

    __tablename__ = "sign_in_links"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class SignInAttempt(Base):
    """A failed sign-in (or a link asked for), counted per address and per client for a while:
    shared by every process, so the limits hold behind a load balancer too."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (Index("ix_sign_in_attempts_key_at", "key", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(400))
    at: Mapped[datetime]


class ApiToken(Base):
    """A person's API token, kept as a SHA-256 hash: the token itself is shown once."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # The first characters, so a token in a log or a config can be recognised.
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    person: Mapped[Person] = relationship(lazy="joined")


class WebhookSubscription(Base):
    """Another system hearing about ticket changes: signed JSON POSTs sent through the outbox."""

    __tablename__ = "webhook_subscriptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Event names (ticket.created, comment.added, ...); filters: {"priority": [...], "category": "A/B"}.
    events: Mapped[list[str]] = mapped_column(JsonType)
    filters: Mapped[dict[str, Any]]
    # Kept as given, not hashed: every delivery is signed with it (HMAC-SHA256).
    secret: Mapped[str] = mapped_column(String(200))
    include_internal: Mapped[bool] = mapped_column(Boolean, default=False)
    # Every change asks for the active subscriptions; with none that is one indexed look-up.
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[datetime]


class SharingAgreement(Base):
    """An agreement to share tickets with another help desk (the ticket-sharing protocol).

    ``side`` is ours: ``sender`` when we invited, ``receiver`` when we were
    invited. The access key travels in every request both ways, so it is kept
    as given, like a webhook secret.
    """

    __tablename__ = "sharing_agreements"
    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(200), unique=True)
    access_key: Mapped[str] = mapped_column(String(200))
    side: Mapped[str] = mapped_column(String(10))
    partner_name: Mapped[str] = mapped_column(String(200), default="")
    sender_url: Mapped[str] = mapped_column(String(2000))
    receiver_url: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(20))
    deactivated_by: Mapped[str | None] = mapped_column(String(10))
    sync_tags: Mapped[bool] = mapped_column(Boolean, default=False)
    sync_custom_fields: Mapped[bool] = mapped_column(Boolean, default=False)
    allows_public_comments: Mapped[bool] = mapped_column(Boolean, default=True)
    # The client address an invitation we received came from: unanswered ones are capped per source.
    invited_from: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SharingActor(Base):
    """A partner's user, known to us only by uuid and name: a person of ours, once per agreement."""

    __tablename__ = "sharing_actors"
    __table_args__ = (UniqueConstraint("agreement_id", "actor_uuid"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("sharing_agreements.id", ondelete="CASCADE"))
    actor_uuid: Mapped[str] = mapped_column(String(200))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))


class SharedTicket(Base):
    """A ticket of ours shared under an agreement: one we sent (``sharer``) or one we got."""

    __tablename__ = "shared_tickets"
    __table_args__ = (
        UniqueConstraint("agreement_id", "uuid"),
        UniqueConstraint("agreement_id", "ticket_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("sharing_agreements.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    uuid: Mapped[str] = mapped_column(String(200), index=True)
    side: Mapped[str] = mapped_column(String(10))
    original_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    # Unshared (by either side, or the agreement ended): the ticket stays, syncing stops.
    detached_at: Mapped[datetime | None]
    # The tags as the partner last had them (what it sent, or what we shared): what it sends is
    # applied as the change from these, so tags added here meanwhile are not wiped by a partner
    # that sends every field on every update.
    tags_seen: Mapped[list[str] | None] = mapped_column(JsonType)
    agreement: Mapped[SharingAgreement] = relationship(lazy="joined")


class SharedComment(Base):
    """A comment both sides know, by its uuid: how a re-sent comment is stored once and
    a comment that came from the partner is never sent back to it."""

    __tablename__ = "shared_comments"
    __table_args__ = (UniqueConstraint("shared_ticket_id", "uuid"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    shared_ticket_id: Mapped[int] = mapped_column(ForeignKey("shared_tickets.id", ondelete="CASCADE"))
    uuid: Mapped[str] = mapped_column(String(200))
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id"), index=True)
    # "local": ours, sent to the partner; "remote": the partner's, never sent back.
    origin: Mapped[str] = mapped_column(String(10))


class SlaPolicyRule(Base):
    """An SLA policy an admin stored over the API, on top of the settings file's.

    It replaces a settings entry with the same category and priority. ``category``
    is a path (``""``: every category, then ``priority`` is required), ``priority``
    ``""`` for every priority; durations are kept as written (``30m``), like the file.
    """

    __tablename__ = "sla_policies"
    __table_args__ = (UniqueConstraint("category", "priority"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(400), default="")
    priority: Mapped[str] = mapped_column(String(20), default="")
    first_response: Mapped[str] = mapped_column(String(20))
    resolution: Mapped[str] = mapped_column(String(20))
    timezone: Mapped[str] = mapped_column(String(100), default="")
    business_hours: Mapped[str] = mapped_column(String(500), default="")
    holiday_country: Mapped[str] = mapped_column(String(10), default="")
    holidays: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AutomationRule(Base):
    """An admin's rule: on a trigger, when its conditions hold, its actions run in order.

    The whole rule is kept as its JSON (:meth:`bot.rules.model.Rule.as_json`); the
    columns beside it are what lists sort and filter by. Teams, people and categories
    are named, not keyed: one removed later makes the rule fail for a ticket, on
    record, rather than silently change what it does."""

    __tablename__ = "automation_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    trigger: Mapped[str] = mapped_column(String(30))
    definition: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AutomationRun(Base):
    """The execution log: one row per rule that matched a ticket (or failed, or was held
    back by the chain's bounds), with what each action changed. A plain rule id, not a
    key: the log outlives a removed rule."""

    __tablename__ = "automation_runs"
    __table_args__ = (
        Index("ix_automation_runs_rule", "rule_id", "id"),
        # Each rule's counts by outcome, read from the index alone.
        Index("ix_automation_runs_rule_outcome", "rule_id", "outcome"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(Integer)
    rule_name: Mapped[str] = mapped_column(String(200))
    ticket_id: Mapped[int | None] = mapped_column(Integer, index=True)
    trigger: Mapped[str] = mapped_column(String(30))
    # applied | dry_run | failed | skipped
    outcome: Mapped[str] = mapped_column(String(20))
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    reason: Mapped[str | None] = mapped_column(Text)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    # Indexed for the retention's pruning.
    created_at: Mapped[datetime] = mapped_column(index=True)


class AutomationFiring(Base):
    """A time-based rule fired for a ticket's episode (when its state began): once, however
    many processes sweep. A rule tried in dry-run keeps its own firings (``mode``), so going
    live later still acts on the episodes it only logged."""

    __tablename__ = "automation_firings"
    rule_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    episode: Mapped[datetime] = mapped_column(primary_key=True)
    mode: Mapped[str] = mapped_column(String(10), primary_key=True)
    created_at: Mapped[datetime]


class SuspendedMail(Base):
    """A message held back instead of becoming a ticket: an upstream filter's spam verdict, a
    banned sender, a sender's flood, or a message that failed every time it was stored.

    Nothing about it reaches anyone (no acknowledgement, no notification, no SLA clock),
    and it is in no queue or report, until an agent releases it: then it is received as
    it came (``inbound``: the channel-neutral message, its files and raw source by hash).
    """

    __tablename__ = "suspended_mail"
    __table_args__ = (UniqueConstraint("channel", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(30))
    key: Mapped[str] = mapped_column(String(998))
    # spam | banned | burst | failed
    reason: Mapped[str] = mapped_column(String(20), index=True)
    detail: Mapped[str] = mapped_column(String(500), default="")
    sender: Mapped[str | None] = mapped_column(String(320), index=True)
    sender_name: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(1000), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    mailbox: Mapped[str | None] = mapped_column(String(320))
    size: Mapped[int] = mapped_column(Integer, default=0)
    # How many files it carries: what the list shows without reading ``inbound``.
    attachments: Mapped[int] = mapped_column(Integer, default=0)
    inbound: Mapped[dict[str, Any]] = mapped_column(JsonType)
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(index=True)
    released_at: Mapped[datetime | None]
    released_by: Mapped[str | None] = mapped_column(String(320))
    ticket_id: Mapped[int | None] = mapped_column(Integer)


class BannedSender(Base):
    """An address (``someone@example.com``) or a domain (``example.com``, its subdomains too)
    whose mail is refused or suspended ([email] banned_senders)."""

    __tablename__ = "banned_senders"
    id: Mapped[int] = mapped_column(primary_key=True)
    pattern: Mapped[str] = mapped_column(String(320), unique=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime]


class MailFailure(Base):
    """A message that failed to be stored for a reason of ours (not the sender's, not an
    outage): counted per message, so after [email] max_attempts it is set aside rather
    than retried for ever (SMTP answers 554 5.6.0, IMAP moves it to the error folder)."""

    __tablename__ = "mail_failures"
    # sha256 of the message's key (its Message-ID, or its bytes' digest when it has none).
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(998))
    # smtp | imap
    via: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    # When it was set aside; counted by /metrics.
    gave_up_at: Mapped[datetime | None] = mapped_column(index=True)
