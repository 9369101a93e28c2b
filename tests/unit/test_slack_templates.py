"""Every shipped Slack template renders with the context the core gives it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.notify.render import Renderer, default_templates_dir
from tests.unit.test_compose import TICKET

SLACK = sorted(
    path.name.removesuffix(".md.j2") for path in (default_templates_dir() / "slack").glob("*.md.j2")
)
CONTEXT = {
    "ticket": TICKET,
    "recipient": TICKET["requester"],
    "previous_status": "open",
    "comment": {
        "body": "hello",
        "author": TICKET["requester"],
        "public": True,
        "flagged": False,
        "channel": "email",
        "staff": False,
    },
    "merged_from": {"number": "SUP-3", "subject": "VPN"},
    "level": {"number": 2, "threshold": "85% of the SLA target"},
    "reason": "the CEO is waiting",
    "by": {"label": "ann@example.com"},
    "auto_close_days": 7,
    "rule": {"id": 3, "name": "VIP customers"},
}


@pytest.mark.parametrize("template", SLACK)
def test_every_slack_template_renders(template: str) -> None:
    text = Renderer().render(f"slack/{template}.md.j2", CONTEXT)
    assert text.strip()
    # Thread posts sit under the ticket's card, which names it; the rest name it themselves.
    assert "SUP-7" in text or template in ("thread_comment", "escalated")


def test_templates_dir_exists() -> None:
    assert Path(default_templates_dir(), "slack").is_dir() and len(SLACK) >= 10
