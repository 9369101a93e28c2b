"""Settings of the channels: email in and out, IMAP accounts, support mailboxes, Slack.

Kept apart from :mod:`bot.config.settings` so each file stays about one thing; the
loader there builds these like every other section.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.options import option


@dataclass(frozen=True, slots=True)
class SpamHeaderTest:
    """An upstream filter's verdict: mail whose ``header`` matches ``pattern`` (RE2, any case) is spam."""

    header: str = ""
    pattern: str = ""


# SpamAssassin's and rspamd's own verdict headers, as their default configurations write them.
DEFAULT_SPAM_HEADERS = (
    SpamHeaderTest("X-Spam-Flag", r"^\s*yes\b"),
    SpamHeaderTest("X-Spam-Status", r"^\s*yes\b"),
    SpamHeaderTest("X-Spam", r"^\s*yes\b"),
)


@dataclass(frozen=True, slots=True)
class EmailSettings:
    from_address: str = "support@localhost"
    from_name: str = "Support"
    outbox_dir: str = ""
    reply_secret: str = field(default="", repr=False, metadata={"secret": True})
    # A reply from an agent that starts with this stays an internal note.
    internal_marker: str = "#note"
    ack_limit: int = option(5, minimum=0)
    ack_window_minutes: int = option(60, minimum=1)
    # authserv-ids whose Authentication-Results headers we trust (our own MX); empty: none.
    trusted_authserv_ids: str = ""
    # HTML nested deeper or with more elements than this is not sanitized (its cost would grow
    # with the square of the depth): the message keeps its text only.
    max_html_depth: int = option(200, minimum=1)
    max_html_elements: int = option(20_000, minimum=1)
    # Threads that take in mail, apart from those serving the API; a parse running longer than
    # the limit is abandoned and the message stored with a plain text reading of it.
    ingest_threads: int = option(4, minimum=1, maximum=64)
    parse_timeout_seconds: int = option(10, minimum=1)
    # Upstream spam verdicts: honoured only from the SMTP peers listed (addresses or networks,
    # comma-separated: the MTA that ran the filter) and from IMAP accounts that trust them.
    spam_headers: tuple[SpamHeaderTest, ...] = DEFAULT_SPAM_HEADERS
    spam_trusted_hosts: str = "127.0.0.0/8, ::1"
    # Mail from a banned sender: "refuse" answers 550 5.7.1 (at RCPT for the envelope
    # sender, at DATA for From); "suspend" keeps it for an agent to review.
    banned_action: str = option("refuse", choices=("refuse", "suspend"))
    # New tickets one address may open per hour; beyond, its mail is suspended. 0: no limit.
    burst_limit: int = option(30, minimum=0)
    # A message that fails this many times for a reason of ours is set aside: SMTP answers
    # 554 5.6.0 and keeps it as suspended mail, IMAP moves it to the error folder.
    max_attempts: int = option(3, minimum=1)
    # Suspended mail is deleted after this many days (0: kept); a released one lives on in its ticket.
    suspended_retention_days: int = option(30, minimum=0)


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """Outgoing mail through an SMTP relay; with no host, mail goes to the .eml folder."""

    host: str = ""
    port: int = option(587, minimum=1, maximum=65535)
    starttls: bool = True
    user: str = ""
    # The password comes from the environment variable named here.
    password_env: str = "SUPPORTBOT_RELAY_PASSWORD"
    timeout_seconds: int = option(30, minimum=1)


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = option(2525, minimum=0, maximum=65535)
    max_message_bytes: int = option(25 * 1024 * 1024, minimum=1024)
    tls_cert: str = ""
    tls_key: str = ""
    # When set, senders must log in (for an upstream relay that authenticates);
    # the password comes from the environment variable named here.
    auth_user: str = ""
    auth_password_env: str = "SUPPORTBOT_SMTP_AUTH_PASSWORD"
    # AUTH is accepted only after STARTTLS; this lets a sender on 127.0.0.1/::1 log in without it.
    allow_cleartext_auth_on_loopback: bool = False
    # Failed logins: each answer waits longer (delay, doubled per failure); after
    # auth_max_failures on one connection it is closed (421 4.7.0), and after
    # auth_max_failures_per_peer from one address within 15 minutes, AUTH from it is refused.
    auth_failure_delay_ms: int = option(1000, minimum=0)
    auth_max_failures: int = option(3, minimum=1)
    auth_max_failures_per_peer: int = option(10, minimum=1)


@dataclass(frozen=True, slots=True)
class ImapAccount:
    """A mailbox polled over IMAP; its mail is treated like mail to ``mailbox`` over SMTP."""

    host: str = ""
    port: int = option(993, minimum=1, maximum=65535)
    tls: bool = True
    user: str = ""
    # The password comes from the environment variable named here (never from this file).
    password_env: str = "SUPPORTBOT_IMAP_PASSWORD"
    folder: str = "INBOX"
    processed_folder: str = "Supportbot/Processed"
    error_folder: str = "Supportbot/Errors"
    poll_seconds: int = option(60, minimum=1)
    mailbox: str = ""
    # Whether this mailbox's server filters spam itself, so [email] spam_headers in its mail
    # are its verdicts rather than whatever a sender wrote; off unless an admin says so.
    trust_spam_verdicts: bool = False


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A support address people write to, and what its tickets start with."""

    address: str = ""
    # Display name on mail from this address (empty: email.from_name).
    name: str = ""
    team: str = ""
    category: str = ""
    priority: str = ""


@dataclass(frozen=True, slots=True)
class SlackSettings:
    """The Slack app; with no bot token Slack is off.

    Over HTTP (the default) Slack calls ``/slack/events`` and the signing secret
    proves each request is Slack's; in Socket Mode the app token opens the
    connection from our side, for teams without a public URL.
    """

    bot_token: str = field(default="", repr=False, metadata={"secret": True})
    signing_secret: str = field(default="", repr=False, metadata={"secret": True})
    app_token: str = field(default="", repr=False, metadata={"secret": True})
    socket_mode: bool = False
    # Slack's Web API; another base for Slack's government cloud, an egress proxy or a test stand-in.
    api_url: str = "https://slack.com/api/"
    # The channel id (C0123ABC) where every ticket gets its root message and thread.
    support_channel: str = ""
    # A thread reply starting with this stays an internal note.
    note_prefix: str = "note:"
    resolve_reaction: str = "white_check_mark"
    assign_reaction: str = "eyes"
    # A direct message to the bot that is not in a ticket's thread opens a ticket.
    dm_opens_ticket: bool = True
    # How long a Slack user's profile (email, name) is trusted before users.info is asked again.
    user_cache_seconds: int = option(3600, minimum=0)
    command: str = "/ticket"

    @property
    def enabled(self) -> bool:
        return bool(self.bot_token)
