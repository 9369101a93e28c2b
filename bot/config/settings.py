"""Frozen settings: embedded defaults, then a TOML file, then ``SUPPORTBOT_*`` variables.

The environment is passed in as a mapping so tests hand a dict and nothing
reads ``os.environ`` behind the caller's back. ``config/supportbot.toml``
lists every option with its default; a test keeps the two in step.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import re2
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config.channels import (
    EmailSettings,
    ImapAccount,
    Mailbox,
    RelaySettings,
    SlackSettings,
    SmtpSettings,
)
from bot.errors import ConfigError
from bot.model import PRIORITY_ALIASES, Priority, Status
from bot.options import option
from bot.sla.policy import Policies, build_ladder
from bot.sla.settings import (
    DEFAULT_LADDER,
    EscalationLevel,
    EscalationSettings,
    NotificationSettings,
    SlaPolicyOverride,
    SlaSettings,
)

ENV_PREFIX = "SUPPORTBOT_"
# RFC 5322 field name: printable ASCII but the colon.
HEADER_NAME = re.compile(r"[!-9;-~]{1,76}")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str = ""
    pool_size: int = option(5, minimum=1)
    echo: bool = False
    # Messages arriving at once are stored in one transaction, up to this many; 1: each alone.
    group_commit: int = option(32, minimum=1, maximum=1000)


@dataclass(frozen=True, slots=True)
class HttpSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = option(8080, minimum=0, maximum=65535)
    # Empty: /metrics answers anyone who reaches the port; set: only "Authorization: Bearer <it>".
    metrics_token: str = field(default="", repr=False, metadata={"secret": True})
    # A connection whose request line and headers are not all in within this many seconds is closed.
    header_timeout_seconds: int = option(10, minimum=1)
    # An idle kept-alive connection is closed after this many seconds.
    keep_alive_seconds: int = option(5, minimum=1)
    # Connections open at once; a request on one more is answered 503.
    max_connections: int = option(1000, minimum=1)
    # Connections one client (an IPv4 address, an IPv6 /64) may hold open; one more is
    # answered 503 and closed at once. Trusted proxies are not counted (all their clients share them).
    max_connections_per_client: int = option(50, minimum=1)
    # Peers whose X-Forwarded-For names the client: addresses or networks (CIDR), comma-separated.
    trusted_proxies: str = "127.0.0.1,::1"

    def proxy_networks(self) -> tuple[IPNetwork, ...]:
        """``trusted_proxies`` parsed; raises ``ValueError`` naming an entry that is no address."""
        return tuple(
            ipaddress.ip_network(entry.strip(), strict=False)
            for entry in self.trusted_proxies.split(",")
            if entry.strip()
        )


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    interval_seconds: int = option(2, minimum=1)
    batch_size: int = option(50, minimum=1)
    max_attempts: int = option(8, minimum=1)
    backoff_seconds: int = option(30, minimum=1)
    backoff_max_seconds: int = option(3600, minimum=1)
    lease_seconds: int = option(300, minimum=1)
    # A channel that is down (Slack unreachable, 5xx, 429) is waited for this long past
    # max_attempts before its notifications are parked as dead.
    retry_hours: int = option(48, minimum=0)


@dataclass(frozen=True, slots=True)
class AttachmentSettings:
    max_bytes: int = option(25 * 1024 * 1024, minimum=1)
    max_total_bytes: int = option(50 * 1024 * 1024, minimum=1)


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    assignment: str = option("round_robin", choices=("round_robin", "least_loaded", "none"))


@dataclass(frozen=True, slots=True)
class AutomationSettings:
    """Automation rules (``supportbot automations``; see ``bot.automation``)."""

    # A rule's change may trigger other rules, whose changes may trigger more: a chain
    # stops, on record, after this many rounds, so no two rules can loop.
    max_depth: int = option(5, minimum=1, maximum=20)
    # How often the scheduler looks for time-based rules that are due.
    sweep_interval_seconds: int = option(60, minimum=5)
    # Days the rules' run log keeps a run (each rule's counts cover this window).
    log_retention_days: int = option(180, minimum=1)


@dataclass(frozen=True, slots=True)
class SharingSettings:
    """Ticket sharing with other help desks (see ``bot.sharing``)."""

    enabled: bool = True
    # Where the protocol's endpoints are served on the HTTP port.
    base_path: str = "/sharing"
    # The sharing URL partners are given (through a proxy, https); empty: this
    # server's http://host:port plus base_path.
    public_url: str = ""
    # Our organisation's name as partners see it in agreements.
    name: str = "Supportbot"
    # Partners on private or loopback addresses (and plain http to them). Off, only https
    # partners on the internet are called: an invitation cannot make us reach inside.
    allow_private_addresses: bool = False
    # Internal notes stay ours unless this is on; the protocol would send them as private comments.
    share_internal_comments: bool = False
    # The largest request body a partner may send (a shared ticket carries all its comments).
    max_body_bytes: int = option(10 * 1024 * 1024, minimum=1024)
    # Anyone may send an invitation: unanswered ones are dropped after this many days, ...
    invitation_ttl_days: int = option(14, minimum=1)
    # ... one source (a client address; IPv6 by its /56) may have this many waiting, ...
    max_pending_per_source: int = option(3, minimum=1)
    # ... and this many wait in all, a last resort against many sources at once.
    max_pending_invitations: int = option(200, minimum=1)
    # Protocol status -> ours, for what partners send; entries here replace the defaults one by one.
    status_in: dict[str, str] = field(default_factory=dict)
    # Our status -> the protocol's, for what we send.
    status_out: dict[str, str] = field(default_factory=dict)

    def public_base(self, http: HttpSettings) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{http.host}]" if ":" in http.host else http.host
        return f"http://{host}:{http.port}{self.base_path}"


@dataclass(frozen=True, slots=True)
class WebhooksSettings:
    """Outgoing webhooks (see ``bot.notify.webhooks``)."""

    # Webhook URLs on private, loopback or link-local addresses (a receiver on this network).
    # Off, only addresses on the internet are called, checked as each connection opens.
    allow_private_addresses: bool = False


@dataclass(frozen=True, slots=True)
class ServeSettings:
    # Processes sharing the SMTP and HTTP ports; 0: one per CPU (at most 8) on PostgreSQL,
    # one on SQLite.
    workers: int = option(0, minimum=0, maximum=64)

    def worker_count(self, database: str, cpus: int | None) -> int:
        """SQLite has one writer whatever the processes; more only share its lock (measured
        in the README's "Capacity"). PostgreSQL takes writers in parallel; the default stops
        at 8 so a large host does not open more connections than a default PostgreSQL allows
        (8 workers x a pool of 5)."""
        if self.workers:
            return self.workers
        return min(AUTO_WORKERS_MAX, max(1, cpus or 1)) if database == "postgresql" else 1


AUTO_WORKERS_MAX = 8


@dataclass(frozen=True, slots=True)
class OidcSettings:
    """OpenID Connect single sign-on for the web desk; off while ``issuer`` is empty."""

    # The issuer's URL: its discovery document is ``<issuer>/.well-known/openid-configuration``.
    issuer: str = ""
    client_id: str = ""
    # From the environment: SUPPORTBOT_WEB_OIDC_CLIENT_SECRET.
    client_secret: str = field(default="", repr=False, metadata={"secret": True})
    # What the sign-in button says.
    name: str = "Single sign-on"
    scopes: str = "openid email profile"
    # People signing in for the first time become agents when their verified email is in one
    # of these domains (comma-separated), requesters otherwise.
    agent_domains: str = ""
    # Claims every ID token must carry, as claim=value pairs, comma-separated: hd=example.com
    # for one Google Workspace, tid=<tenant id> for one Entra ID tenant. A provider open to
    # everyone (Google, multi-tenant Entra) vouches for any verified address without them.
    required_claims: str = ""
    # Agents and admins sign in only through SSO (no password, no emailed link) while it is on.
    staff_sso_only: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)

    def required_claim_pairs(self) -> tuple[tuple[str, str], ...]:
        pairs = (item.partition("=") for item in self.required_claims.split(",") if item.strip())
        return tuple((name.strip(), value.strip()) for name, _, value in pairs)

    def agent_domain_set(self) -> frozenset[str]:
        return frozenset(d.strip().lower().lstrip("@") for d in self.agent_domains.split(",") if d.strip())


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The web desk served on the HTTP port: the requesters' portal, the agents' workspace."""

    enabled: bool = True
    # Where people reach the desk (links in sign-in mail, the SSO redirect); https makes the
    # session cookie Secure. Empty: http://<http.host>:<http.port>.
    public_url: str = ""
    # A session ends this long after it was last used, and at most max_session_days after sign-in.
    session_idle_hours: int = option(12, minimum=1)
    max_session_days: int = option(14, minimum=1)
    # Requesters may set a new ticket's priority in the portal (otherwise the desk's default).
    requesters_choose_priority: bool = True
    # Failed sign-ins counted over this window, per address and per client address.
    failure_window_minutes: int = option(15, minimum=1)
    max_failures_per_address: int = option(5, minimum=1)
    max_failures_per_client: int = option(20, minimum=1)
    # How often an open page's live connection looks for changes (server-sent events).
    live_poll_ms: int = option(1000, minimum=100)
    # Queue tab counts are exact while nothing changes; on a busy desk they are counted again
    # at most this often per process (0: at every change).
    queue_counts_max_age_seconds: int = option(5, minimum=0)
    oidc: OidcSettings = field(default_factory=OidcSettings)

    def base_url(self, http: HttpSettings) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{http.host}]" if ":" in http.host else http.host
        return f"http://{host}:{http.port}"

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.lower().startswith("https://")


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    level: str = option("INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: str = "data"
    ticket_prefix: str = "SUP"
    default_priority: str = option("medium", choices=(*(p.value for p in Priority), *PRIORITY_ALIASES))
    enable_email_notifications: bool = True
    ticket_expiration_days: int = option(7, minimum=1)
    auto_close_days: int = option(7, minimum=1)
    enable_escalation: bool = True
    audit_log_interval: int = option(1, minimum=1)
    templates_dir: str = ""
    status_transitions: dict[str, list[str]] = field(default_factory=dict)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    mailboxes: tuple[Mailbox, ...] = (Mailbox("support@localhost"),)
    imap: tuple[ImapAccount, ...] = ()
    slack: SlackSettings = field(default_factory=SlackSettings)
    sla: SlaSettings = field(default_factory=SlaSettings)
    sla_policies: tuple[SlaPolicyOverride, ...] = ()
    escalation: EscalationSettings = field(default_factory=EscalationSettings)
    escalation_levels: tuple[EscalationLevel, ...] = DEFAULT_LADDER
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    attachments: AttachmentSettings = field(default_factory=AttachmentSettings)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    automation: AutomationSettings = field(default_factory=AutomationSettings)
    sharing: SharingSettings = field(default_factory=SharingSettings)
    webhooks: WebhooksSettings = field(default_factory=WebhooksSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)
    web: WebSettings = field(default_factory=WebSettings)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()

    @property
    def database_url(self) -> str:
        """An empty URL means the embedded SQLite file in the data folder."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.data_path / 'supportbot.db').resolve()}"

    @property
    def outbox_path(self) -> Path:
        return Path(self.email.outbox_dir) if self.email.outbox_dir else self.data_path / "outbox"

    @property
    def attachments_path(self) -> Path:
        return self.data_path / "attachments"


def load(path: Path | None, environ: Mapping[str, str]) -> Settings:
    """Build settings from defaults, the file at ``path`` (if any) and ``environ``.

    Raises :class:`ConfigError` naming the option and the accepted values.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    _apply_environment(raw, environ)
    settings: Settings = _build(Settings, raw, "")
    _check(settings)
    return settings


def smtp_auth_password(smtp: SmtpSettings, environ: Mapping[str, str]) -> str | None:
    if not smtp.auth_user:
        return None
    password = environ.get(smtp.auth_password_env, "")
    if not password:
        raise ConfigError(f"smtp.auth_user is set: put its password in ${smtp.auth_password_env}")
    return password


def relay_password(relay: RelaySettings, environ: Mapping[str, str]) -> str | None:
    """None when the relay takes no login; a login without a password is a configuration error."""
    if not relay.user:
        return None
    password = environ.get(relay.password_env, "")
    if not password:
        raise ConfigError(f"relay.user is set: put the relay password in ${relay.password_env}")
    return password


def imap_password(account: ImapAccount, environ: Mapping[str, str]) -> str:
    """Secrets stay out of the settings object and the file: read them when connecting."""
    password = environ.get(account.password_env, "")
    if not password:
        raise ConfigError(
            f"imap account {account.user}@{account.host}: set the password in ${account.password_env}"
        )
    return password


PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9]{0,15}")
DATABASES = ("sqlite", "postgresql")


def _check(settings: Settings) -> None:
    """Values that have the right type but cannot work; caught here so start-up stops with a reason."""
    if not PREFIX.fullmatch(settings.ticket_prefix):
        raise ConfigError(
            f"ticket_prefix = {settings.ticket_prefix!r}: "
            "use 1 to 16 letters and digits, starting with a letter"
        )
    if settings.database.url:
        try:
            backend = make_url(settings.database.url).get_backend_name()
        except ArgumentError:
            raise ConfigError(
                "database.url is not a database URL; use e.g. postgresql://user:password@host:5432/name, "
                "or leave it empty for SQLite in the data folder"
            ) from None
        if backend not in DATABASES:
            raise ConfigError(f"database.url: {backend} is not supported; use one of: {', '.join(DATABASES)}")
    try:
        Address(display_name=settings.email.from_name, addr_spec=settings.email.from_address)
    except (ValueError, IndexError, HeaderParseError):
        raise ConfigError(
            f"email.from_address = {settings.email.from_address!r} is not an email address"
        ) from None
    for index, mailbox in enumerate(settings.mailboxes):
        _check_mailbox(index, mailbox)
    for index, account in enumerate(settings.imap):
        if not account.host or not account.user:
            raise ConfigError(f"imap[{index}] needs host and user")
        if account.mailbox and account.mailbox.lower() not in {m.address.lower() for m in settings.mailboxes}:
            raise ConfigError(f"imap[{index}].mailbox = {account.mailbox!r} is not one of the [[mailboxes]]")
    addresses = [mailbox.address.lower() for mailbox in settings.mailboxes]
    if len(set(addresses)) != len(addresses):
        raise ConfigError("mailboxes: each address may be listed once")
    _check_email(settings.email)
    _check_http(settings.http)
    _check_slack(settings.slack)
    _check_sharing(settings.sharing)
    _check_web(settings.web)
    # Built once at load time, so a bad value stops start-up rather than a sweep.
    Policies(settings.sla, settings.sla_policies)
    build_ladder(settings.escalation_levels)
    if "@" not in settings.email.from_address:
        raise ConfigError(
            f"email.from_address = {settings.email.from_address!r} needs a domain, e.g. support@example.com"
        )


def _check_email(email: EmailSettings) -> None:
    """Spam verdict tests and trusted hosts are read per message: a typo must stop start-up."""
    for index, test in enumerate(email.spam_headers):
        where = f"email.spam_headers[{index}]"
        if not HEADER_NAME.fullmatch(test.header):
            raise ConfigError(f"{where}.header = {test.header!r} is not a header name")
        try:
            re2.compile(test.pattern)
        except re2.error as error:
            raise ConfigError(f"{where}.pattern = {test.pattern!r} is not a valid pattern: {error}") from None
    for host in (h.strip() for h in email.spam_trusted_hosts.split(",")):
        if not host:
            continue
        try:
            ipaddress.ip_network(host, strict=False)
        except ValueError:
            raise ConfigError(
                f"email.spam_trusted_hosts: {host!r} is not an address or network "
                "(e.g. 10.0.0.5, 10.0.0.0/24)"
            ) from None


def _check_web(web: WebSettings) -> None:
    if web.public_url and not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", web.public_url):
        raise ConfigError(f"web.public_url = {web.public_url!r} must be an http(s) URL")
    oidc = web.oidc
    if oidc.enabled:
        if not re.fullmatch(r"https?://[^\s]+", oidc.issuer):
            raise ConfigError(f"web.oidc.issuer = {oidc.issuer!r} must be an http(s) URL")
        if not oidc.client_id or not oidc.client_secret:
            raise ConfigError(
                "web.oidc.issuer is set: set web.oidc.client_id, and the client secret in "
                "$SUPPORTBOT_WEB_OIDC_CLIENT_SECRET"
            )
        for item in (i for i in oidc.required_claims.split(",") if i.strip()):
            name, sep, value = item.partition("=")
            if not sep or not name.strip() or not value.strip():
                raise ConfigError(
                    f"web.oidc.required_claims: {item.strip()!r} is not claim=value (e.g. hd=example.com)"
                )
        if "openid" not in oidc.scopes.split():
            raise ConfigError(f"web.oidc.scopes = {oidc.scopes!r} must include openid")


def _check_http(http: HttpSettings) -> None:
    try:
        http.proxy_networks()
    except ValueError as error:
        raise ConfigError(
            f"http.trusted_proxies = {http.trusted_proxies!r}: {error}; "
            "use addresses or networks such as 127.0.0.1,10.0.0.0/8, comma-separated"
        ) from None


def _check_sharing(sharing: SharingSettings) -> None:
    """The status tables are sharing's own (the core does not import sharing): checked as the
    settings load by ``channels.bootstrap.load_settings``, and by
    :class:`bot.sharing.service.Sharing` when it is built."""
    if not sharing.base_path.startswith("/") or sharing.base_path.rstrip("/") in ("", "/api/v1", "/slack"):
        raise ConfigError(
            f"sharing.base_path = {sharing.base_path!r}: use a path of its own such as /sharing"
        )
    if sharing.public_url and not sharing.public_url.startswith(("https://", "http://")):
        raise ConfigError(f"sharing.public_url = {sharing.public_url!r} must be an http(s) URL")


def _check_slack(slack: SlackSettings) -> None:
    """A half-configured Slack app would start and then refuse every request; say what is missing."""
    if not (slack.bot_token or slack.signing_secret or slack.app_token):
        return
    if not slack.bot_token:
        raise ConfigError("slack: set slack.bot_token ($SUPPORTBOT_SLACK_BOT_TOKEN) to turn Slack on")
    if slack.socket_mode and not slack.app_token:
        raise ConfigError("slack.socket_mode needs an app-level token in $SUPPORTBOT_SLACK_APP_TOKEN")
    if not slack.socket_mode and not slack.signing_secret:
        raise ConfigError(
            "slack: set the signing secret ($SUPPORTBOT_SLACK_SIGNING_SECRET) so requests can be verified"
        )
    if not slack.api_url.startswith(("https://", "http://")):
        raise ConfigError(f"slack.api_url = {slack.api_url!r} must be an http(s) URL")
    if slack.support_channel and not re.fullmatch(r"[CG][A-Z0-9]{2,}", slack.support_channel):
        raise ConfigError(
            f"slack.support_channel = {slack.support_channel!r}: use the channel id (C0123ABCD), "
            "shown in the channel's details, not its name"
        )
    if not slack.command.startswith("/"):
        raise ConfigError(f"slack.command = {slack.command!r} must start with /")


def secret_options() -> list[str]:
    """Options that hold secrets, as ``section.key``: shown masked, never printed."""
    names: list[str] = []
    hints = get_type_hints(Settings)
    for f in dataclasses.fields(Settings):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            inner_hints = get_type_hints(kind)
            for i in dataclasses.fields(kind):
                if dataclasses.is_dataclass(inner_hints[i.name]):
                    leaves = dataclasses.fields(inner_hints[i.name])
                    names += [
                        f"{f.name}.{i.name}.{leaf.name}" for leaf in leaves if leaf.metadata.get("secret")
                    ]
                elif i.metadata.get("secret"):
                    names.append(f"{f.name}.{i.name}")
        elif f.metadata.get("secret"):
            names.append(f.name)
    return names


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, (section, key) in _environment_names().items():
        if name not in environ:
            continue
        value = environ[name]
        if section:
            target = raw
            for part in section.split("."):
                target = target.setdefault(part, {})
                if not isinstance(target, dict):
                    raise ConfigError(f"[{section}] must be a table")
            target[key] = _EnvValue(value)
        else:
            raw[key] = _EnvValue(value)


@dataclass(frozen=True, slots=True)
class _EnvValue:
    """A string from the environment, still to be parsed as the option's type."""

    text: str


def _environment_names() -> dict[str, tuple[str, str]]:
    names: dict[str, tuple[str, str]] = {}
    hints = get_type_hints(Settings)
    for f in dataclasses.fields(Settings):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            inner_hints = get_type_hints(kind)
            for inner in dataclasses.fields(kind):
                if dataclasses.is_dataclass(inner_hints[inner.name]):  # [web.oidc]
                    for leaf in dataclasses.fields(inner_hints[inner.name]):
                        env = f"{ENV_PREFIX}{f.name}_{inner.name}_{leaf.name}".upper()
                        names[env] = (f"{f.name}.{inner.name}", leaf.name)
                    continue
                env = f"{ENV_PREFIX}{f.name}_{inner.name}".upper()
                names[env] = (f.name, inner.name)
        else:
            names[f"{ENV_PREFIX}{f.name}".upper()] = ("", f.name)
    return names


def environment_names() -> list[str]:
    """Every variable that overrides an option, for the README and ``--help``."""
    return sorted(_environment_names())


def _build(cls: Any, raw: Mapping[str, Any], section: str) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"[{section}] must be a table of options")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        where = f"[{section}]" if section else "the top level"
        raise ConfigError(f"unknown option(s) {', '.join(unknown)} in {where}; known: {', '.join(fields)}")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        option = f"{section}.{name}" if section else name
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            values[name] = _build(kind, value, name)
        elif get_origin(kind) is tuple:
            values[name] = _build_list(get_args(kind)[0], value, option)
        else:
            values[name] = _coerce(option, kind, value, fields[name].metadata)
    return cls(**values)


def _build_list(kind: Any, value: Any, option: str) -> tuple[Any, ...]:
    """``[[mailboxes]]`` tables in TOML, or a JSON list of objects from the environment."""
    if isinstance(value, _EnvValue):
        value = _parse_env(option, kind, value.text)
    if not isinstance(value, list):
        raise ConfigError(
            f"{option} must be a list of tables ([[{option}]] in TOML, a JSON list in the environment)"
        )
    return tuple(_build(kind, item, f"{option}[{index}]") for index, item in enumerate(value))


def _coerce(option: str, kind: Any, value: Any, meta: Mapping[str, Any]) -> Any:
    if isinstance(value, _EnvValue):
        value = _parse_env(option, kind, value.text)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{option} must be true or false, not {value!r}")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{option} must be a whole number, not {value!r}")
        minimum, maximum = meta.get("minimum"), meta.get("maximum")
        if minimum is not None and value < minimum:
            raise ConfigError(f"{option} must be at least {minimum}, not {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{option} must be at most {maximum}, not {value}")
    elif kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{option} must be a string, not {value!r}")
        choices = meta.get("choices") or ()
        if choices:
            folded = value.lower() if choices[0].islower() else value.upper()
            if folded not in choices:
                raise ConfigError(f"{option} = {value!r} is not valid; use one of: {', '.join(choices)}")
            value = folded
    elif kind == dict[str, str]:  # sharing.status_in / status_out, checked when sharing is built
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ConfigError(f'{option} must map a status to a status, e.g. hold = "in_progress"')
        value = dict(value)
    else:  # dict[str, list[str]]: status_transitions
        value = _coerce_transitions(option, value)
    return value


def _coerce_transitions(option: str, value: Any) -> dict[str, list[str]]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(s, str) for s in v)
        for k, v in value.items()
    ):
        raise ConfigError(f'{option} must map a status to a list of statuses, e.g. open = ["in_progress"]')
    known = {status.value for status in Status}
    unknown = sorted({name for k, v in value.items() for name in (k, *v)} - known)
    if unknown:
        raise ConfigError(f"{option}: unknown status {', '.join(unknown)}; statuses are: {', '.join(Status)}")
    return {k: list(v) for k, v in value.items()}


def _parse_env(option: str, kind: Any, text: str) -> Any:
    name = f"{ENV_PREFIX}{option.replace('.', '_')}".upper()
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, not {text!r}")
    if kind is int:
        try:
            return int(text.strip())
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {text!r}") from None
    if kind is str:
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(f'{name} must be JSON, e.g. {{"open": ["in_progress"]}}, not {text!r}') from None


def _check_mailbox(index: int, mailbox: Mailbox) -> None:
    where = f"mailboxes[{index}]"
    local, at, domain = mailbox.address.rpartition("@")
    if not at or not local or not domain or "+" in local:
        raise ConfigError(
            f"{where}.address = {mailbox.address!r}: use a plain address like support@example.com"
        )
    if mailbox.priority and mailbox.priority.lower() not in (*(p.value for p in Priority), *PRIORITY_ALIASES):
        raise ConfigError(f"{where}.priority = {mailbox.priority!r}; use one of: {', '.join(Priority)}")
