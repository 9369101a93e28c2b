"""Notification emails: rendered from templates, threaded, and safe against header injection."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

import pytest

from bot.messages import Outbound
from bot.notify.outbox import PermanentDeliveryError
from bot.notify.render import Renderer
from channels.email.compose import Sender, compose

TICKET = {
    "number": "SUP-7",
    "subject": "VPN down",
    "status": "open",
    "priority": "high",
    "requester": {"name": "Bob", "email": "bob@example.com", "role": "requester"},
    "assignee": None,
    "category": None,
    "sla": {
        "status": "on time",
        "target": "first response",
        "due": "2026-03-02 13:00 UTC",
        "left": "4h left",
    },
}


def _outbound(**overrides) -> Outbound:
    values = {
        "notification_id": 1,
        "channel": "email",
        "recipient": "bob@example.com",
        "recipient_name": "Bob",
        "template": "ticket_opened",
        "context": {"ticket": TICKET, "recipient": TICKET["requester"]},
        "dedupe_key": "k",
        "message_id": "<sup-7.abc@support.test>",
        "thread": ("<first@example.com>", "<sup-7.prev@support.test>"),
    }
    values.update(overrides)
    return Outbound(**values)


def _parse(message):
    return email.message_from_bytes(message.as_bytes(), policy=policy.default)


def test_acknowledgement_is_threaded_multipart_and_marked_auto_replied():
    sent = _parse(
        compose(_outbound(), Renderer(), Sender("support@support.test", "Support"), datetime.now(UTC))
    )
    assert sent["Subject"] == "[SUP-7] VPN down"
    assert sent["From"] == "Support <support@support.test>"
    assert sent["Message-ID"] == "<sup-7.abc@support.test>"
    assert sent["In-Reply-To"] == "<sup-7.prev@support.test>"
    assert sent["References"].split() == ["<first@example.com>", "<sup-7.prev@support.test>"]
    assert sent["Auto-Submitted"] == "auto-replied"
    assert sent.get_content_type() == "multipart/alternative"
    assert "opened ticket SUP-7" in sent.get_body(("plain",)).get_content()
    assert "<strong>SUP-7</strong>" in sent.get_body(("html",)).get_content()


def test_agent_reply_is_not_marked_automatic():
    outbound = _outbound(
        template="agent_replied",
        context={
            "ticket": TICKET,
            "recipient": TICKET["requester"],
            "comment": {"body": "Fixed.", "author": None},
        },
    )
    sent = _parse(compose(outbound, Renderer(), Sender("s@x.test", "S")))
    assert sent["Auto-Submitted"] is None
    assert sent.get_body(("plain",)).get_content().startswith("Fixed.")


def test_html_is_escaped_and_text_is_not():
    ticket = TICKET | {"subject": "<script>alert(1)</script>"}
    sent = _parse(
        compose(
            _outbound(context={"ticket": ticket, "recipient": TICKET["requester"]}),
            Renderer(),
            Sender("s@x.test", "S"),
        )
    )
    assert "&lt;script&gt;" in sent.get_body(("html",)).get_content()
    assert "<script>alert(1)</script>" in sent.get_body(("plain",)).get_content()


def test_crlf_in_subject_and_names_cannot_inject_headers():
    ticket = TICKET | {"subject": "hi\r\nBcc: victim@example.com"}
    outbound = _outbound(
        context={"ticket": ticket, "recipient": TICKET["requester"]},
        recipient_name="Eve\r\nBcc: x@example.com",
    )
    raw = compose(outbound, Renderer(), Sender("s@x.test", "Sup\nport")).as_bytes()
    parsed = _parse_bytes(raw)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "[SUP-7] hi Bcc: victim@example.com"


def _parse_bytes(raw: bytes):
    return email.message_from_bytes(raw, policy=policy.default)


def test_non_ascii_names_and_subjects_are_encoded():
    ticket = TICKET | {"subject": "Ошибка входа — ログイン"}
    outbound = _outbound(
        context={"ticket": ticket, "recipient": TICKET["requester"]}, recipient_name="Zoë Ünal"
    )
    raw = compose(outbound, Renderer(), Sender("s@x.test", "Söpport")).as_bytes()
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert headers.isascii(), "non-ASCII header text must be RFC 2047 encoded"
    parsed = _parse_bytes(raw)
    assert parsed["Subject"] == "[SUP-7] Ошибка входа — ログイン"
    assert parsed["To"].addresses[0].display_name == "Zoë Ünal"


def test_a_broken_template_is_a_permanent_failure_not_a_blank():
    outbound = _outbound(context={"ticket": {"number": "SUP-7"}})
    with pytest.raises(PermanentDeliveryError, match="template ticket_opened"):
        compose(outbound, Renderer(), Sender("s@x.test", "S"))


def test_a_templates_folder_overrides_one_template_and_keeps_the_rest(tmp_path):
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "ticket_opened.txt.j2").write_text("Custom {{ ticket.number }}\n")
    renderer = Renderer([tmp_path])
    assert renderer.render("email/ticket_opened.txt.j2", {"ticket": TICKET}) == "Custom SUP-7\n"
    assert renderer.has("email/ticket_resolved.txt.j2")


@pytest.mark.parametrize(
    "template",
    [
        "ticket_opened",
        "new_ticket",
        "ticket_assigned",
        "agent_replied",
        "customer_replied",
        "status_changed",
        "ticket_resolved",
        "ticket_merged",
        "ticket_escalated",
        "sla_warning",
        "escalation",
        "auto_closed",
        "tickets_expired",
        "automation_reminder",
        "automation_notice",
    ],
)
def test_every_shipped_template_renders_text_and_html(template):
    context = {
        "ticket": TICKET,
        "recipient": TICKET["requester"],
        "previous_status": "open",
        "comment": {"body": "hello", "author": TICKET["requester"]},
        "merged_from": {"number": "SUP-3", "subject": "VPN"},
        "level": {"number": 2, "threshold": "85% of the SLA target"},
        "reason": "the CEO is waiting",
        "by": {"label": "ann@example.com"},
        "auto_close_days": 7,
        "expiration_days": 7,
        "opened_on": "2026-03-02",
        "rule": {"id": 3, "name": "Remind after 3 days waiting"},
    }
    sent = _parse(compose(_outbound(template=template, context=context), Renderer(), Sender("s@x.test", "S")))
    assert "SUP-7" in sent.get_body(("plain",)).get_content()
    assert "SUP-7" in sent.get_body(("html",)).get_content()
