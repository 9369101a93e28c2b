"""A loopback farm of hostile mail robots: the internet our relay delivers to, as it is at its worst.

One aiosmtpd server takes every message ``supportbot serve`` relays and answers it by the
recipient's domain, at once and every time (no robot here keeps the once-a-week memory
RFC 3834 asks of responders):

- ``bounce.farm.test``: a mailer-daemon that bounces everything (null sender, RFC 3464 report);
- ``auto.farm.test``: an RFC 3834 responder (``Auto-Submitted: auto-replied``);
- ``ooo.farm.test``: Outlook's out-of-office, marked only by ``X-Auto-Response-Suppress: All``
  and its "Automatic reply:" subject, sent to From with no In-Reply-To;
- ``desk.farm.test``: another help desk that acknowledges every message with its own
  ``[#n]``-style tag and no Auto-Submitted, threaded to what it answers (In-Reply-To), as
  osTicket, OTRS and Zammad thread theirs;
- ``staff.farm.test``: our own agents' mailbox, whose out-of-office answers every notification
  through its signed Reply-To address.

``people.farm.test`` mailboxes only receive. Everything a robot writes carries
``ROBOT-TEXT <its address> <n>`` in its body, so a test can tell whether a robot's words
reached anyone else. Replies go into the server over SMTP from a thread of their own.
"""

from __future__ import annotations

import email
import itertools
import queue
import smtplib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses, make_msgid

from aiosmtpd.controller import Controller

from tests.ports import LOOPBACK, free_port

FARM = "farm.test"
BOUNCER, RESPONDER, OUTLOOK, DESK, STAFF, PEOPLE = (
    f"{name}.{FARM}" for name in ("bounce", "auto", "ooo", "desk", "staff", "people")
)
MARK = "ROBOT-TEXT"
# Acknowledgement subjects of well-known help desks, each with its own ticket tag.
DESK_SUBJECTS = (
    "Support Ticket Opened [#{n}]",
    "[Ticket#2026030210000{n:03d}] Your request has been received",
    "Request #{n} received",
    "We have your message (Case 00{n:04d})",
)


@dataclass(frozen=True, slots=True)
class Received:
    """One message the relay handed to the farm, for one recipient."""

    at: float
    mail_from: str
    rcpt: str
    message: EmailMessage

    @property
    def ticket(self) -> str | None:
        return self.message.get("X-Supportbot-Ticket")

    @property
    def text(self) -> str:
        """Subject and every text part, decoded."""
        parts = [str(self.message.get("Subject", ""))]
        for part in self.message.walk():
            if part.get_content_maintype() == "text":
                parts.append(part.get_content())
        return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class Reply:
    robot: str
    mail_from: str
    to: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class Delivery:
    """What ``serve`` answered a robot's reply (after a few tries on 4xx)."""

    reply: Reply
    code: int
    text: str


def deliver(port: int, mail_from: str, to: str, raw: bytes) -> tuple[int, str]:
    """The final answer to one message sent into ``serve`` over SMTP."""
    with smtplib.SMTP(LOOPBACK, port, timeout=60) as client:
        client.ehlo()
        code, answer = client.mail(mail_from)
        if code == 250:
            code, answer = client.rcpt(to)
        if code == 250:
            code, answer = client.data(raw)
        return code, answer.decode(errors="replace")


def address_of(message: EmailMessage, header: str) -> str | None:
    found = [address for _, address in getaddresses([str(v) for v in message.get_all(header, [])])]
    return found[0].lower() if found else None


class Farm:
    """The robots, one SMTP server, and the thread that sends their answers into ``serve``."""

    def __init__(self, serve_smtp_port: int) -> None:
        self.serve_port = serve_smtp_port
        self.port = free_port()
        self.received: list[Received] = []
        self.deliveries: list[Delivery] = []
        self.last_activity = time.monotonic()
        self._lock = threading.Lock()
        self._outgoing: queue.Queue[Reply | None] = queue.Queue()
        self._count = itertools.count(1)
        self._robots: dict[str, Callable[[str, str, EmailMessage, int], Reply]] = {
            BOUNCER: self._bounce,
            RESPONDER: self._rfc3834,
            OUTLOOK: self._outlook,
            DESK: self._desk,
            STAFF: self._out_of_office,
        }
        self._controller = Controller(self, hostname=LOOPBACK, port=self.port)
        self._sender = threading.Thread(target=self._send_replies, name="farm-replies", daemon=True)

    # -- running ----------------------------------------------------------------------------

    def start(self) -> None:
        self._controller.start()
        self._sender.start()

    def stop(self) -> None:
        self._controller.stop()
        self._outgoing.put(None)
        self._sender.join(timeout=60)

    def mail(self, mail_from: str, to: str, raw: bytes) -> tuple[int, str]:
        """A person's message into ``serve`` (counts as farm traffic)."""
        self._touch()
        return deliver(self.serve_port, mail_from, to, raw)

    def quiet_for(self, seconds: float) -> bool:
        """Nothing received, answered or pending for ``seconds``."""
        with self._lock:
            idle = time.monotonic() - self.last_activity
        return self._outgoing.unfinished_tasks == 0 and idle >= seconds

    def inbox(self, address: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.rcpt == address.lower()]

    def snapshot(self) -> tuple[list[Received], list[Delivery]]:
        with self._lock:
            return list(self.received), list(self.deliveries)

    def _touch(self) -> None:
        with self._lock:
            self.last_activity = time.monotonic()

    # -- the SMTP side: aiosmtpd's handler hooks --------------------------------------------

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = email.message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        for rcpt in envelope.rcpt_tos:
            rcpt = rcpt.lower()
            with self._lock:
                self.received.append(Received(time.monotonic(), envelope.mail_from, rcpt, message))
                self.last_activity = time.monotonic()
            robot = self._robots.get(rcpt.rpartition("@")[2])
            if robot is not None:
                self._outgoing.put(robot(envelope.mail_from, rcpt, message, next(self._count)))
        return "250 OK"

    def _send_replies(self) -> None:
        while (reply := self._outgoing.get()) is not None:
            try:
                code, text = 0, ""
                for _ in range(5):  # as a sending server does on 4xx, quickly
                    try:
                        code, text = deliver(self.serve_port, reply.mail_from, reply.to, reply.raw)
                    except (OSError, smtplib.SMTPException) as error:
                        code, text = 0, repr(error)
                    if 200 <= code < 300 or 500 <= code < 600:
                        break
                    time.sleep(0.5)
                with self._lock:
                    self.deliveries.append(Delivery(reply, code, text))
                    self.last_activity = time.monotonic()
            finally:
                self._outgoing.task_done()

    # -- the robots ---------------------------------------------------------------------------

    @staticmethod
    def _headers(sender: str, to: str, subject: str, extra: str = "") -> str:
        return (
            f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: {make_msgid(domain=FARM)}\r\nMIME-Version: 1.0\r\n{extra}"
        )

    def _bounce(self, mail_from: str, rcpt: str, message: EmailMessage, n: int) -> Reply:
        """Every message returned as undeliverable, to the envelope sender, from the null sender."""
        daemon = f"MAILER-DAEMON@{BOUNCER}"
        raw = (
            self._headers(
                f"Mail Delivery System <{daemon}>",
                mail_from,
                "Undelivered Mail Returned to Sender",
                'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"\r\n',
            )
            + "\r\n--dsn\r\nContent-Type: text/plain\r\n\r\n"
            + f"{MARK} {daemon} {n}: your message could not be delivered to {rcpt}.\r\n"
            + "\r\n--dsn\r\nContent-Type: message/delivery-status\r\n\r\n"
            + f"Reporting-MTA: dns; {BOUNCER}\r\n\r\n"
            + f"Final-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            + "\r\n--dsn\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            + f"Message-ID: {message['Message-ID']}\r\nTo: {rcpt}\r\n"
            + "\r\n--dsn--\r\n"
        )
        return Reply("bounce", "", mail_from, raw.encode())

    def _rfc3834(self, mail_from: str, rcpt: str, message: EmailMessage, n: int) -> Reply:
        """Marked as RFC 3834 asks, sent to the Return-Path, threaded; but it answers everything."""
        references = f"{message.get('References', '')} {message['Message-ID']}".strip()
        raw = self._headers(
            rcpt,
            mail_from,
            f"Auto: {message['Subject']}",
            f"Auto-Submitted: auto-replied\r\nIn-Reply-To: {message['Message-ID']}\r\n"
            f"References: {references}\r\nContent-Type: text/plain; charset=utf-8\r\n",
        ) + (f"\r\n{MARK} {rcpt} {n}: I am on holiday and read no mail.\r\n")
        return Reply("rfc3834", rcpt, mail_from, raw.encode())

    def _outlook(self, mail_from: str, rcpt: str, message: EmailMessage, n: int) -> Reply:
        """Exchange's out-of-office: no Auto-Submitted, no In-Reply-To; to the From address."""
        to = address_of(message, "From") or mail_from
        raw = self._headers(
            rcpt,
            to,
            f"Automatic reply: {message['Subject']}",
            f"X-Auto-Response-Suppress: All\r\nThread-Topic: {message['Subject']}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n",
        ) + (f"\r\n{MARK} {rcpt} {n}: I am out of the office until further notice.\r\n")
        return Reply("outlook", rcpt, to, raw.encode())

    def _desk(self, mail_from: str, rcpt: str, message: EmailMessage, n: int) -> Reply:
        """Another help desk: every message is a new ticket of its own, acknowledged in reply."""
        to = address_of(message, "From") or mail_from
        subject = DESK_SUBJECTS[n % len(DESK_SUBJECTS)].format(n=n)
        threading = f"In-Reply-To: {message['Message-ID']}\r\n" if message["Message-ID"] else ""
        raw = self._headers(rcpt, to, subject, f"{threading}Content-Type: text/plain; charset=utf-8\r\n") + (
            f"\r\n{MARK} {rcpt} {n}: Thank you for contacting us. Your request has been logged.\r\n"
        )
        return Reply("desk", rcpt, to, raw.encode())

    def _out_of_office(self, mail_from: str, rcpt: str, message: EmailMessage, n: int) -> Reply:
        """Our agent's Outlook out-of-office, answering each notification at its Reply-To."""
        to = address_of(message, "Reply-To") or address_of(message, "From") or mail_from
        raw = self._headers(
            rcpt,
            to,
            f"Automatic reply: {message['Subject']}",
            "X-Auto-Response-Suppress: All\r\nContent-Type: text/plain; charset=utf-8\r\n",
        ) + (f"\r\n{MARK} {rcpt} {n}: I am on leave. In urgent cases call my mobile 555-0100.\r\n")
        return Reply("agent out-of-office", rcpt, to, raw.encode())
