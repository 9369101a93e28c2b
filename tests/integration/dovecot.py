"""A real Dovecot for the IMAP tests: its own config, one user, mail and port in a temporary folder.

Started in the foreground (``dovecot -F``), never as the system service: a
Dovecot that Debian's package may have started on port 143 is left alone, and
ours shares nothing with it (own base_dir, state_dir, log and port).

Run as root (CI), Dovecot refuses mail access as root and login processes as
root, so it uses the users Debian's package creates (``dovecot``,
``dovenull``) and the folder is made readable to them; run as anyone else,
everything runs as that user.

Two listeners: 127.0.0.1 is plain Dovecot (IDLE, MOVE, UIDPLUS); 127.0.0.2
(loopback too on Linux) advertises neither IDLE nor MOVE after login, so the
poller's fallbacks (polling on a timer, COPY + ``\\Deleted`` + EXPUNGE) run
against a real server as well.
"""

from __future__ import annotations

import contextlib
import dataclasses
import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

from bot.config.settings import ImapAccount
from tests.ports import free_port

BINARY = "/usr/sbin/dovecot"
USER, PASSWORD = "support", "imap-test-password"
PLAIN_HOST = "127.0.0.1"
BASIC_HOST = "127.0.0.2"
# Capabilities of the "basic" listener after login: enough for the poller, without IDLE and MOVE.
BASIC_CAPABILITIES = "IMAP4rev1 LITERAL+ SASL-IR UIDPLUS NAMESPACE UNSELECT"


class Unavailable(Exception):
    """Dovecot cannot run here; the message says why (the fixture skips, or fails under CI)."""


def binary() -> str:
    found = shutil.which("dovecot") or (BINARY if os.access(BINARY, os.X_OK) else None)
    if found is None:
        raise Unavailable(
            "dovecot is not installed (Debian: apt-get install dovecot-imapd; 'make test' does it)"
        )
    return found


class Dovecot:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.passwd = root / "passwd"
        self.log = root / "dovecot.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        config = self.root / "dovecot.conf"
        config.write_text(self._config(), encoding="utf-8")
        self.passwd.write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n", encoding="utf-8")
        self.passwd.chmod(0o644)
        with (self.root / "stderr.log").open("wb") as stderr:
            self.process = subprocess.Popen(
                [binary(), "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=stderr
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Unavailable(f"dovecot exited with {self.process.returncode}: {self._logs()}")
            if _accepts(PLAIN_HOST, self.port) and _accepts(BASIC_HOST, self.port):
                return
            time.sleep(0.05)  # bounded wait for the real server to listen
        self.stop()
        raise Unavailable(f"dovecot did not listen on port {self.port} within {timeout}s: {self._logs()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def empty(self) -> None:
        """Back to an empty INBOX and no other folders, so each test starts from a fresh mailbox."""
        with self.client() as client:
            # A \Noselect parent exists only through its children and goes with them.
            names = [n for f, _, n in client.list_folders() if n != "INBOX" and b"\\Noselect" not in f]
            for name in sorted(names, key=len, reverse=True):  # children before parents
                client.delete_folder(name)
            client.select_folder("INBOX")
            uids = client.search("ALL")
            if uids:
                client.delete_messages(uids)
                client.expunge()

    def account(self, *, basic: bool = False, **overrides: Any) -> ImapAccount:
        account = ImapAccount(
            host=BASIC_HOST if basic else PLAIN_HOST, port=self.port, tls=False, user=USER, poll_seconds=1
        )
        return dataclasses.replace(account, **overrides)

    @contextlib.contextmanager
    def client(self) -> Iterator[IMAPClient]:
        """A second, independent client: how a person (or the test) sees the mailbox."""
        client = IMAPClient(PLAIN_HOST, port=self.port, ssl=False, timeout=30)
        try:
            client.login(USER, PASSWORD)
            yield client
        finally:
            client.logout()

    def kick(self) -> None:
        """Drop every connection of the user server-side, as a restarting server would."""
        doveadm = shutil.which("doveadm") or "/usr/bin/doveadm"  # Debian puts it beside, not in, sbin
        config = self.root / "dovecot.conf"
        subprocess.run([doveadm, "-c", str(config), "kick", USER], check=True, capture_output=True)

    def _config(self) -> str:
        root = self.root
        mail = root / "mail"
        mail.mkdir()
        if os.geteuid() == 0:
            try:
                mail_user = pwd.getpwnam("dovecot")
            except KeyError:
                raise Unavailable("running as root needs the 'dovecot' user of Debian's package") from None
            os.chown(mail, mail_user.pw_uid, mail_user.pw_gid)
            login_user, internal_user, internal_group = "dovenull", "dovecot", "dovecot"
        else:
            mail_user = pwd.getpwuid(os.geteuid())
            login_user = internal_user = mail_user.pw_name
            internal_group = grp.getgrgid(os.getegid()).gr_name
        return f"""
protocols = imap
listen = {PLAIN_HOST}, {BASIC_HOST}
base_dir = {root}/run
state_dir = {root}/state
log_path = {self.log}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{mail}/%u
mail_uid = {mail_user.pw_uid}
mail_gid = {mail_user.pw_gid}
first_valid_uid = {mail_user.pw_uid}
first_valid_gid = {mail_user.pw_gid}
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
# Notice appended mail within a second while in IDLE, even without inotify.
mailbox_idle_check_interval = 1 secs
# A test of a wrong password must not slow down the logins of the tests after it.
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.passwd}
}}
userdb {{
  driver = passwd-file
  args = {self.passwd}
}}
# Chroot needs root; a test server does without it, whoever runs it.
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
local {BASIC_HOST} {{
  protocol imap {{
    imap_capability = {BASIC_CAPABILITIES}
  }}
}}
"""

    def _logs(self) -> str:
        parts = [
            p.read_text(errors="replace")[-2000:] for p in (self.root / "stderr.log", self.log) if p.exists()
        ]
        return " | ".join(part.strip() for part in parts if part.strip()) or "(no log)"


@contextlib.contextmanager
def running() -> Iterator[Dovecot]:
    """Raises :class:`Unavailable` when Dovecot is missing or will not start."""
    binary()
    # Not under pytest's tmp (mode 0700 for root): Dovecot's own users must reach the
    # passwd file, and socket paths must stay short.
    root = Path(tempfile.mkdtemp(prefix="sb-dovecot-"))
    root.chmod(0o755)
    server = Dovecot(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
