"""The composition root: settings -> store -> desk -> senders -> dispatcher -> servers.

The only module that knows both the core and every channel. Nothing here runs
at import time; the CLI and the tests call :func:`build` with the settings
they want.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import signal
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TextIO, TypeAlias

from bot.clock import SystemClock
from bot.config.settings import Settings, imap_password, load, relay_password, smtp_auth_password
from bot.desk.facade import Desk
from bot.desk.scheduler import create_scheduler
from bot.errors import ConfigError
from bot.notify.outbox import Dispatcher
from bot.notify.render import Renderer
from bot.ports import Clock, Sender
from bot.sharing.service import Sharing
from bot.sharing.statuses import check_tables
from bot.store import migrate
from bot.store.db import Store
from bot.store.files import FileStore
from bot.store.private import make_private_folder, sqlite_files, warn_if_open
from channels.email.compose import Sender as EmailFrom
from channels.email.imap_poller import ImapPoller, PollerThreads, recipients_for
from channels.email.ingest import EmailIngest
from channels.email.sender import EmlFolderSender, SmtpRelaySender
from channels.email.smtp_server import SupportHandler, protocol_factory
from channels.email.workers import MailWorkers
from channels.sharing.client import SharingClient
from channels.sharing.endpoints import sharing_routes
from channels.supervisor import Supervisor
from channels.terminal_text import visible, visible_line
from channels.webhooks.sender import WebhookSender

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from channels.slack.app import SlackApp

logger = logging.getLogger(__name__)

ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    clock: Clock
    store: Store
    desk: Desk
    sharing: Sharing
    renderer: Renderer
    dispatcher: Dispatcher
    reply_secret: bytes
    # The process environment, handed in by the entry point: secrets (IMAP, relay
    # and SMTP AUTH passwords) are read from it when they are needed, never kept in settings.
    environ: Mapping[str, str]


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class TerminalSafeFormatter(logging.Formatter):
    """One record, one line, nothing a terminal obeys.

    Log arguments carry what strangers wrote (addresses, Message-IDs, parse
    problems, errors quoting headers), and ``serve`` logs to the operator's
    terminal: every control character of the rendered line, line breaks
    included, becomes a visible ``\\uXXXX``, so no record can move the cursor,
    retitle the window, write the clipboard or forge a second log line. A
    traceback keeps its line breaks; its other controls are escaped alike.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return visible_line(super().formatMessage(record))

    def formatException(self, ei: ExcInfo) -> str:
        return visible(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return visible(super().formatStack(stack_info))


def configure_logging(level: str, *, stream: TextIO | None = None) -> None:
    """Log to ``stream`` (stderr) through :class:`TerminalSafeFormatter`, unless logging is set up already."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TerminalSafeFormatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
    # Alembic announces its context on every schema check; only upgrades are news.
    quiet = max(logging.WARNING, logging.getLogger().level)
    logging.getLogger("alembic.runtime.migration").setLevel(quiet)
    # APScheduler logs every job run at INFO; our jobs log what they did themselves.
    logging.getLogger("apscheduler").setLevel(quiet)
    # aiosmtpd logs every SMTP command at INFO; our handler logs each message once.
    logging.getLogger("mail.log").setLevel(quiet)


def load_settings(path: Path | None, environ: Mapping[str, str]) -> Settings:
    """The settings every command starts from, checked whole before anything is opened: the
    loader's own checks, then sharing's status tables (sharing's to know, not the loader's)."""
    settings = load(path, environ)
    check_tables(settings.sharing.status_in, settings.sharing.status_out)
    return settings


def open_store(settings: Settings) -> Store:
    """Upgrade an embedded SQLite by itself; a shared PostgreSQL is upgraded on purpose only."""
    store = Store(settings.database_url, pool_size=settings.database.pool_size, echo=settings.database.echo)
    if migrate.is_current(store):
        return store
    if store.dialect == "sqlite":
        logger.info("upgrading the embedded database schema at %s", store.url.database)
        migrate.upgrade(store)
        return store
    current = migrate.current_revision(store)
    store.dispose()
    raise ConfigError(
        f"the database schema is at {current or 'nothing (empty database)'}, "
        f"this version needs {migrate.head_revision()}: run 'supportbot db upgrade'"
    )


def _prepare_data_dir(settings: Settings) -> None:
    """Fail at start-up, naming the option, rather than at the first attachment or email."""
    path = settings.data_path
    try:
        make_private_folder(path)  # 0700: it holds access keys, secrets and mail
    except OSError as error:
        raise ConfigError(f"data_dir = {str(path)!r} cannot be created: {error.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"data_dir = {str(path)!r} is not writable by this user")


def _warn_if_private_files_are_open(runtime: Runtime) -> None:
    """Folders and files made before they were made owner-only, or by hand: named, not changed."""
    settings = runtime.settings
    paths = [settings.data_path, settings.data_path / "reply-secret"]
    paths += [settings.attachments_path, settings.outbox_path]
    if runtime.store.dialect == "sqlite" and runtime.store.url.database not in (None, "", ":memory:"):
        paths += sqlite_files(Path(str(runtime.store.url.database)))
    warn_if_open(paths)


def build(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    senders: Mapping[str, Sender] | None = None,
) -> Runtime:
    environ = environ if environ is not None else {}
    relay_password(settings.relay, environ)  # a missing secret stops us before anything is opened
    clock = clock or SystemClock()
    _prepare_data_dir(settings)
    store = open_store(settings)
    renderer = Renderer([Path(settings.templates_dir)] if settings.templates_dir else [])
    desk = Desk(store, clock, settings, FileStore(settings.attachments_path))
    secret = reply_secret(settings)
    sharing = Sharing(desk)
    if senders is None:
        senders = {"email": email_sender(settings, environ, renderer, secret, clock)}
        if settings.slack.enabled:
            senders["slack"] = slack_sender(settings, desk, renderer, clock)
        senders["webhook"] = WebhookSender(
            desk, clock, allow_private=settings.webhooks.allow_private_addresses
        )
        senders["sharing"] = SharingClient(
            sharing, clock, allow_private=settings.sharing.allow_private_addresses
        )
    dispatcher = Dispatcher(store, clock, senders, settings.outbox)
    return Runtime(settings, clock, store, desk, sharing, renderer, dispatcher, secret, environ)


def email_sender(
    settings: Settings, environ: Mapping[str, str], renderer: Renderer, secret: bytes, clock: Clock
) -> Sender:
    """The SMTP relay when one is configured, else the .eml folder (the embedded default)."""
    identity = EmailFrom(settings.email.from_address, settings.email.from_name, secret)
    if settings.relay.host:
        return SmtpRelaySender(
            settings.relay, relay_password(settings.relay, environ), renderer, identity, clock
        )
    return EmlFolderSender(settings.outbox_path, renderer, identity, clock)


def slack_sender(settings: Settings, desk: Desk, renderer: Renderer, clock: Clock) -> Sender:
    from channels.slack.app import web_client
    from channels.slack.sender import SlackSender

    return SlackSender(web_client(settings.slack), desk, renderer, settings.slack, clock)


def slack_app(runtime: Runtime) -> SlackApp | None:
    """The Bolt app when Slack is configured; imported only then (Bolt is slow to load)."""
    if not runtime.settings.slack.enabled:
        return None
    from channels.slack.app import create_slack_app

    return create_slack_app(runtime.desk, runtime.settings)


def reply_secret(settings: Settings) -> bytes:
    """From the configuration, or made once and kept in the data folder (owner-only)."""
    if settings.email.reply_secret:
        return settings.email.reply_secret.encode()
    path = settings.data_path / "reply-secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    return path.read_bytes().strip()


@dataclass(frozen=True, slots=True)
class Listening:
    """The bound ports, made before serving: by ``serve`` itself, or once by the supervisor
    of ``serve --workers N``, whose workers all accept on the same sockets."""

    http: socket.socket | None
    smtp: socket.socket | None

    def close(self) -> None:
        for sock in (self.http, self.smtp):
            if sock is not None:
                sock.close()


def listen(settings: Settings) -> Listening:
    """Bind what the settings turn on; a taken port is a :class:`ConfigError` naming the option."""
    http = _bind(settings.http.host, settings.http.port, "http.port") if settings.http.enabled else None
    try:
        smtp = _bind(settings.smtp.host, settings.smtp.port, "smtp.port") if settings.smtp.enabled else None
    except ConfigError:
        if http is not None:
            http.close()
        raise
    return Listening(http, smtp)


async def serve(runtime: Runtime, listening: Listening | None = None, *, worker: int = 0) -> None:
    """All of the bot in this process; ``worker`` > 0 is one of several sharing the ports,
    which leaves IMAP polling and Slack's Socket Mode to worker 0 (one poller per mailbox,
    one socket to Slack); every worker runs the scheduler, whose jobs claim their work."""
    settings = runtime.settings
    if listening is None:  # a supervisor (``serve_workers``) has warned already
        _warn_if_private_files_are_open(runtime)
    mail = MailWorkers(settings.email)  # SMTP's and IMAP's own threads, apart from the API's
    # Before anything starts: a missing password stops here.
    imap = imap_pollers(runtime, runtime.environ, mail) if worker == 0 else PollerThreads([])
    if listening is None:
        listening = listen(settings)
    smtp_socket = listening.smtp
    slack = slack_app(runtime) if worker == 0 or not settings.slack.socket_mode else None
    if slack is not None:
        await slack.start()  # before SMTP: a refused Socket Mode token stops start-up here
    smtp_server = await _start_smtp(runtime, smtp_socket, mail) if smtp_socket else None
    scheduler = create_scheduler(
        runtime.dispatcher,
        outbox_interval_seconds=settings.outbox.interval_seconds,
        start_at=runtime.clock.now(),
        desk=runtime.desk,
        sla_interval_seconds=settings.sla.sweep_seconds,
    )
    scheduler.start()
    imap.start()
    logger.info(
        "supportbot serving: %s, %s, %s, database %s, outgoing mail to %s (Ctrl-C stops it)",
        (
            f"HTTP on http://{settings.http.host}:{settings.http.port}"
            + (f" (web desk at {settings.web.base_url(settings.http)}/)" if settings.web.enabled else "")
        )
        if listening.http
        else "HTTP off",
        f"SMTP on {settings.smtp.host}:{settings.smtp.port} for "
        + ", ".join(mailbox.address for mailbox in settings.mailboxes)
        if smtp_server
        else "SMTP off",
        _slack_summary(settings, listening.http is not None),
        runtime.store.url.render_as_string(hide_password=True),
        settings.outbox_path,
    )
    stop = _stop_on_signals()
    try:
        if listening.http is not None:
            routes = [*(slack.routes() if slack else []), *sharing_routes(runtime.sharing)]
            limits: list[tuple[re.Pattern[str], int]] = []
            if settings.web.enabled:
                from channels.web.app import web_routes

                web = web_routes(runtime.desk, settings)
                routes += web.routes
                limits = web.upload_paths
            await _serve_http(runtime, listening.http, stop, routes, limits)
        else:
            await stop.wait()
    finally:
        await asyncio.to_thread(imap.stop)  # before the store closes: a round may be mid-commit
        if slack is not None:
            await slack.stop()
        if smtp_server is not None:
            smtp_server.close()
            await smtp_server.wait_closed()
        await asyncio.to_thread(mail.shutdown)  # before the store closes: a message may be mid-commit
        scheduler.shutdown(wait=False)
        runtime.store.dispose()
        logger.info("supportbot stopped")


def serve_workers(settings: Settings, environ: Mapping[str, str], count: int) -> int:
    """``serve --workers N``: checked and bound here, once, then served by N forked workers
    (:mod:`channels.supervisor`); the exit status."""
    # Everything a worker would refuse is refused here, before any fork: the schema (an
    # embedded SQLite is upgraded now, by one process), passwords, the data folder.
    runtime = build(settings, environ=environ)
    imap_pollers(runtime, environ)
    _warn_if_private_files_are_open(runtime)
    runtime.store.dispose()  # no connection may cross the fork
    listening = listen(settings)

    def run_worker(index: int) -> int:
        asyncio.run(serve(build(settings, environ=environ), listening, worker=index))
        return 0

    logger.info("supportbot serving with %d workers", count)
    try:
        return Supervisor(count, run_worker, on_stop=listening.close).run()
    finally:
        listening.close()


def _slack_summary(settings: Settings, http: bool) -> str:
    slack = settings.slack
    if not slack.enabled:
        return "Slack off"
    if slack.socket_mode:
        return "Slack in Socket Mode"
    if not http:
        return "Slack on, but HTTP is off: Slack cannot reach /slack/events"
    return f"Slack at http://{settings.http.host}:{settings.http.port}/slack/events"


def email_ingest(runtime: Runtime, workers: MailWorkers | None = None) -> EmailIngest:
    settings = runtime.settings
    return EmailIngest(runtime.desk, settings.mailboxes, runtime.reply_secret, settings.email, workers)


def imap_pollers(
    runtime: Runtime, environ: Mapping[str, str], workers: MailWorkers | None = None
) -> PollerThreads:
    """One polling thread per ``[[imap]]`` account, not yet started; passwords are read now."""
    settings = runtime.settings
    ingest = email_ingest(runtime, workers)
    return PollerThreads(
        [
            ImapPoller(
                account, ingest, imap_password(account, environ), recipients_for(account, settings.mailboxes)
            )
            for account in settings.imap
        ]
    )


async def _start_smtp(runtime: Runtime, listening: socket.socket, workers: MailWorkers) -> asyncio.Server:
    settings = runtime.settings
    handler = SupportHandler(email_ingest(runtime, workers))
    loop = asyncio.get_running_loop()
    password = smtp_auth_password(settings.smtp, runtime.environ)
    return await loop.create_server(protocol_factory(handler, settings.smtp, password), sock=listening)


def _stop_on_signals() -> asyncio.Event:
    """SIGINT and SIGTERM end the process cleanly, whichever servers are running."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _serve_http(
    runtime: Runtime,
    listening: socket.socket,
    stop: asyncio.Event,
    routes: Sequence[BaseRoute],
    limits: Sequence[tuple[re.Pattern[str], int]] = (),
) -> None:
    # Imported here: other commands need neither, and they cost half a second to load.
    import uvicorn

    from channels.http.api import create_app
    from channels.http.server import uvicorn_config

    class _Server(uvicorn.Server):
        # We own the signals: uvicorn would re-raise them after its shutdown and
        # kill the process before the scheduler and the store are closed.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    # The body limit is create_app's outermost layer; header time-outs and the connection
    # limit are uvicorn_config's.
    app = create_app(runtime.store, routes, runtime.desk, limits=limits)
    server = _Server(uvicorn_config(app, runtime.settings.http))
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopping.cancel()
    await serving


def _bind(host: str, port: int, option: str) -> socket.socket:
    """Bind before serving, so a taken port is a configuration error and not a server traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ConfigError(f"{option}: cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock
