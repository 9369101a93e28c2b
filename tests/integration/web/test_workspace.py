"""The agents' workspace over real HTTP: queues, a ticket's page and its actions, bulk changes."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.desk.facade import Desk
from bot.model import Actor, Priority, Role, Status
from bot.store import tables as t
from bot.store.db import Store
from tests.factories import make_ticket
from tests.fakes import FakeClock
from tests.integration.web.conftest import Browser, sign_in_with_link, sign_in_with_password, staff

ANN = "ann@support.test"
BO = "bo@support.test"


def _agent(browser: Browser, desk: Desk, email: str = ANN, team: str | None = None) -> Actor:
    actor = staff(desk, email, team=team)
    sign_in_with_password(browser, email)
    return actor


def _rows(page: str) -> list[str]:
    """The ticket numbers the queue lists, in order."""
    return re.findall(r'<td class="mono">([A-Z]+-\d+)</td>', page)


def _count(page: str, label: str) -> int:
    found = re.search(re.escape(label) + r'<span class="count">(\d+)</span>', page)
    assert found, f"no tab {label!r}"
    return int(found.group(1))


def _notifications(store: Store, recipient: str, template: str) -> list[t.Notification]:
    with store.read() as session:
        return list(
            session.scalars(
                select(t.Notification).where(
                    t.Notification.recipient == recipient, t.Notification.template == template
                )
            )
        )


def test_the_queues_list_tickets_with_their_counts(browser: Browser, desk: Desk) -> None:
    ann = _agent(browser, desk, team=None)
    desk.add_team(Actor.console(), "Ops")
    desk.update_person(Actor.console(), ANN, team="Ops")
    mine = make_ticket(desk, subject="Mine to do")
    desk.assign(Actor.console(), mine, ANN)
    loose = make_ticket(desk, subject="Nobody has it")
    done = make_ticket(desk, subject="Long done")
    desk.transition(Actor.console(), done, Status.RESOLVED)
    page = browser.get("/desk")
    assert page.status_code == 200
    assert _rows(page.text) == [mine]
    assert _count(page.text, "Mine") == 1
    assert _count(page.text, "Unassigned") == 1
    assert _count(page.text, "All open") == 2
    assert _count(page.text, "All") == 3
    assert 'data-live="/live/queue"' in page.text and "data-nav-item" in page.text
    assert f'href="/desk/tickets/{mine}" data-open' in page.text
    assert _rows(browser.get("/desk?queue=unassigned").text) == [loose]
    assert _rows(browser.get("/desk?queue=all").text) == [done, loose, mine]
    # Assigned to the team: ann's team's queue holds it.
    desk.add_category(Actor.console(), "Hardware", team="Ops")
    desk.set_category(Actor.console(), loose, "Hardware")
    team = browser.get("/desk?queue=team").text
    assert loose in _rows(team) and _count(team, "My team&#39;s") >= 1
    assert ann.person_id is not None


def test_filters_sort_and_search_narrow_the_queue(browser: Browser, desk: Desk) -> None:
    _agent(browser, desk)
    printer = make_ticket(desk, subject="Printer jammed", text="Paper stuck in tray two")
    vpn = make_ticket(desk, subject="VPN down", text="Cannot connect from home")
    desk.set_priority(Actor.console(), vpn, Priority.URGENT)
    desk.set_tags(Actor.console(), printer, add=["hardware"])
    assert _rows(browser.get("/desk?queue=open&priority=urgent").text) == [vpn]
    assert _rows(browser.get("/desk?queue=open&tag=hardware").text) == [printer]
    assert _rows(browser.get("/desk?queue=open&q=tray").text) == [printer]
    assert _rows(browser.get("/desk?queue=open&sort=number").text) == [printer, vpn]
    assert _rows(browser.get("/desk?queue=open&sort=-priority").text) == [vpn, printer]
    # The filter form asks htmx for the list region alone.
    region = browser.get("/desk?queue=open&q=connect", headers={"HX-Request": "true", "HX-Target": "queue"})
    assert region.status_code == 200 and region.text.lstrip().startswith('<div id="queue"')
    assert _rows(region.text) == [vpn] and "<html" not in region.text
    refused = browser.get("/desk?queue=open&q=%21%21%21")
    assert refused.status_code == 422 and "no words" in refused.text


def test_the_queue_filters_by_the_days_tickets_were_opened_and_changed(
    browser: Browser, desk: Desk, clock: FakeClock
) -> None:
    old = make_ticket(desk, subject="Opened on the 2nd")  # the clock starts on 2026-03-02
    clock.advance(days=3)
    new = make_ticket(desk, subject="Opened on the 5th")
    _agent(browser, desk)  # signed in now: a session idle for three days would have ended
    assert _rows(browser.get("/desk?queue=all&created_after=2026-03-03").text) == [new]
    assert _rows(browser.get("/desk?queue=all&created_before=2026-03-02").text) == [old]  # the day included
    on_the_5th = "updated_after=2026-03-05&updated_before=2026-03-05"
    assert _rows(browser.get(f"/desk?queue=all&{on_the_5th}").text) == [new]
    bad = browser.get("/desk?queue=all&created_after=yesterday")
    assert bad.status_code == 422 and "is not a date" in bad.text


def test_the_queue_pages_with_a_cursor(browser: Browser, desk: Desk) -> None:
    _agent(browser, desk)
    # From fifty-one customers: one address opening as many in an hour would be held as a flood.
    numbers = [make_ticket(desk, subject=f"Ticket {i}", email=f"c{i}@example.com") for i in range(51)]
    first = browser.get("/desk?queue=open")
    assert _rows(first.text) == numbers[::-1][:50]
    following = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert following
    second = browser.get(following.group(1).replace("&amp;", "&"))
    assert _rows(second.text) == [numbers[0]]
    assert browser.get("/desk?queue=open&cursor=nonsense").status_code == 422


def test_a_requester_finds_no_workspace(browser: Browser, store: Store, desk: Desk) -> None:
    number = make_ticket(desk, email="rita@customer.test")
    sign_in_with_link(browser, store, "rita@customer.test")
    assert browser.get("/desk").status_code == 404
    assert browser.get(f"/desk/tickets/{number}").status_code == 404  # even their own
    assert browser.get(f"/desk/tickets/{number}/regions").status_code == 404
    browser.get("/")
    assert browser.submit(f"/desk/tickets/{number}/note", {"body": "sneaky"}).status_code == 404
    assert all(c.public for c in desk.visible_ticket(Actor.console(), number).comments)


def test_signed_out_the_workspace_asks_to_sign_in(browser: Browser) -> None:
    page = browser.get("/desk?queue=open")
    assert page.status_code == 303 and page.headers["location"].startswith("/signin?next=")


def test_an_agent_replies_and_the_requester_hears_by_email(
    browser: Browser, store: Store, desk: Desk
) -> None:
    _agent(browser, desk)
    number = make_ticket(desk, email="rita@customer.test", subject="Cannot log in")
    page = browser.get(f"/desk/tickets/{number}")
    assert page.status_code == 200
    assert f'data-live="/live/ticket/{number}"' in page.text
    assert "data-key-reply" in page.text and "data-key-note" in page.text
    sent = browser.submit(f"/desk/tickets/{number}/reply", _form(page.text, body="Try resetting it."))
    assert sent.status_code == 303 and sent.headers["location"].startswith(f"/desk/tickets/{number}#comment-")
    reply = desk.visible_ticket(Actor.console(), number).comments[-1]
    assert (reply.body, reply.public, reply.channel, reply.author) == ("Try resetting it.", True, "web", ANN)
    assert len(_notifications(store, "rita@customer.test", "agent_replied")) == 1
    shown = browser.get(f"/desk/tickets/{number}").text
    assert "Try resetting it." in shown and '<span class="channel">web</span>' in shown


def test_a_double_submitted_reply_is_posted_once(browser: Browser, desk: Desk) -> None:
    _agent(browser, desk)
    number = make_ticket(desk)
    form = _form(browser.get(f"/desk/tickets/{number}").text, body="Once only")
    assert browser.submit(f"/desk/tickets/{number}/reply", form).status_code == 303
    assert browser.submit(f"/desk/tickets/{number}/reply", form).status_code == 303
    bodies = [c.body for c in desk.visible_ticket(Actor.console(), number).comments]
    assert bodies.count("Once only") == 1


def test_an_internal_note_stays_internal(browser: Browser, store: Store, desk: Desk) -> None:
    _agent(browser, desk)
    number = make_ticket(desk, email="rita@customer.test")
    page = browser.get(f"/desk/tickets/{number}")
    sent = browser.submit(f"/desk/tickets/{number}/note", _form(page.text, "note", body="Customer is VIP"))
    assert sent.status_code == 303
    note = desk.visible_ticket(Actor.console(), number).comments[-1]
    assert note.body == "Customer is VIP" and not note.public
    assert _notifications(store, "rita@customer.test", "agent_replied") == []
    shown = browser.get(f"/desk/tickets/{number}").text
    assert re.search(r'<article class="comment internal"[^>]*>\s*<header>\s*<strong>Ann</strong>', shown)


def test_an_empty_reply_is_refused_beside_its_form(browser: Browser, desk: Desk) -> None:
    _agent(browser, desk)
    number = make_ticket(desk)
    page = browser.get(f"/desk/tickets/{number}")
    refused = browser.submit(f"/desk/tickets/{number}/reply", _form(page.text, body="   "))
    assert refused.status_code == 422
    assert "Write something first." in refused.text and 'aria-invalid="true"' in refused.text


def test_an_agent_assigns_and_changes_status_and_priority(browser: Browser, desk: Desk) -> None:
    _agent(browser, desk)
    staff(desk, BO)
    number = make_ticket(desk)
    browser.get(f"/desk/tickets/{number}")
    assert browser.submit(f"/desk/tickets/{number}/assign", {"assignee": "me"}).status_code == 303
    assert desk.visible_ticket(Actor.console(), number).ticket.assignee == ANN
    assert browser.submit(f"/desk/tickets/{number}/assign", {"assignee": BO}).status_code == 303
    assert browser.submit(f"/desk/tickets/{number}/status", {"status": "in_progress"}).status_code == 303
    assert browser.submit(f"/desk/tickets/{number}/priority", {"priority": "high"}).status_code == 303
    assert browser.submit(f"/desk/tickets/{number}/tags", {"add": "vip, billing"}).status_code == 303
    assert browser.submit(f"/desk/tickets/{number}/escalate", {"reason": "CEO asking"}).status_code == 303
    ticket = desk.visible_ticket(Actor.console(), number).ticket
    assert (ticket.assignee, ticket.status, ticket.priority) == (BO, "in_progress", "high")
    assert ticket.tags == ("billing", "vip")
    page = browser.get(f"/desk/tickets/{number}").text
    assert "Ann escalated it: CEO asking" in page and "Ann assigned it to Bo" in page
    assert browser.submit(f"/desk/tickets/{number}/tags", {"remove": "vip"}).status_code == 303
    assert browser.submit(f"/desk/tickets/{number}/assign", {"assignee": ""}).status_code == 303
    ticket = desk.visible_ticket(Actor.console(), number).ticket
    assert ticket.tags == ("billing",) and ticket.assignee is None


def test_a_ticket_moves_to_a_team_alone_and_in_bulk(browser: Browser, desk: Desk) -> None:
    desk.add_team(Actor.console(), "Ops")
    desk.add_team(Actor.console(), "Network")
    _agent(browser, desk, team="Ops")
    staff(desk, BO, team="Network")
    number, other = make_ticket(desk), make_ticket(desk)
    browser.get(f"/desk/tickets/{number}")
    assert browser.submit(f"/desk/tickets/{number}/assign", {"assignee": "me"}).status_code == 303
    # To Network: Ann (of Ops) lets go, and Network's round robin hands it to Bo.
    assert browser.submit(f"/desk/tickets/{number}/team", {"team": "Network"}).status_code == 303
    ticket = desk.visible_ticket(Actor.console(), number).ticket
    assert (ticket.team, ticket.assignee) == ("Network", BO)
    assert "Ann moved it to team Network" in browser.get(f"/desk/tickets/{number}").text
    refused = browser.submit(f"/desk/tickets/{number}/team", {"team": "Nowhere"})
    assert refused.status_code == 422 and "Nowhere" in refused.text
    browser.get("/desk?queue=all")
    lower = number.lower()  # one ticket named twice is changed once
    moved = browser.submit("/desk/bulk", {"numbers": [number, lower, other], "action": "team", "team": "Ops"})
    assert moved.status_code == 200 and "2 of 2 changed." in moved.text
    browser.get("/desk?queue=all")
    nowhere = browser.submit("/desk/bulk", {"numbers": [number], "action": "team", "team": ""})
    assert nowhere.status_code == 422 and "Choose the team" in nowhere.text
    assert {desk.visible_ticket(Actor.console(), n).ticket.team for n in (number, other)} == {"Ops"}


def test_a_refused_action_is_shown_beside_its_form(browser: Browser, desk: Desk) -> None:
    _agent(browser, desk)
    number = make_ticket(desk)
    browser.get(f"/desk/tickets/{number}")
    missing = browser.submit(f"/desk/tickets/{number}/merge", {"into": "SUP-999"})
    assert missing.status_code == 422
    form = re.search(r'<form[^>]*id="form-merge".*?</form>', missing.text, re.S)
    assert form and 'class="field-error"' in form.group(0)
    closed = browser.submit(f"/desk/tickets/{number}/status", {"status": "bogus"})
    assert closed.status_code == 422 and "unknown status" in closed.text
    assert desk.visible_ticket(Actor.console(), number).ticket.status == "open"


def test_merging_goes_to_the_ticket_that_lives_on(browser: Browser, desk: Desk) -> None:
    _agent(browser, desk)
    source, target = make_ticket(desk), make_ticket(desk)
    browser.get(f"/desk/tickets/{source}")
    merged = browser.submit(f"/desk/tickets/{source}/merge", {"into": target})
    assert merged.status_code == 303 and merged.headers["location"] == f"/desk/tickets/{target}"
    assert desk.visible_ticket(Actor.console(), source).ticket.merged_into == target


def test_custom_fields_and_category_are_set_from_the_page(browser: Browser, desk: Desk) -> None:
    _agent(browser, desk)
    admin = Actor.console()
    desk.define_field(admin, "plan", "Plan", "dropdown", options={"choices": ["free", "pro"]})
    desk.add_category(admin, "Billing")
    number = make_ticket(desk)
    page = browser.get(f"/desk/tickets/{number}").text
    assert 'name="field.plan"' in page
    assert browser.submit(f"/desk/tickets/{number}/fields", {"field.plan": "pro"}).status_code == 303
    assert browser.submit(f"/desk/tickets/{number}/category", {"category": "Billing"}).status_code == 303
    ticket = desk.visible_ticket(admin, number).ticket
    assert ticket.custom_fields == {"plan": "pro"} and ticket.category == "Billing"
    refused = browser.submit(f"/desk/tickets/{number}/fields", {"field.plan": "gold"})
    assert refused.status_code == 422 and "not one of" in refused.text


def test_a_bulk_change_reports_each_ticket(browser: Browser, desk: Desk) -> None:
    _agent(browser, desk)
    first, second, merged = make_ticket(desk), make_ticket(desk), make_ticket(desk)
    desk.merge(Actor.console(), merged, first)
    browser.get("/desk?queue=all")
    answer = browser.submit(
        "/desk/bulk", {"numbers": [first, second, merged], "action": "status", "status": "in_progress"}
    )
    assert answer.status_code == 200
    assert "2 of 3 changed." in answer.text
    failed = re.search(rf"<tr class=\"failed\">.*?{merged}.*?</tr>", answer.text, re.S)
    assert failed and "was merged into" in failed.group(0)
    assert desk.visible_ticket(Actor.console(), second).ticket.status == "in_progress"
    browser.get("/desk?queue=all")
    mine = browser.submit("/desk/bulk", {"numbers": [second], "action": "assign_me"})
    assert mine.status_code == 200 and desk.visible_ticket(Actor.console(), second).ticket.assignee == ANN
    nothing = browser.submit("/desk/bulk", {"action": "assign_me"})
    assert nothing.status_code == 422 and "Select at least one ticket." in nothing.text


def test_a_reply_written_against_an_older_state_is_kept_and_says_what_changed(
    browser: Browser, open_browser, desk: Desk
) -> None:
    _agent(browser, desk)
    bo = staff(desk, BO)
    number = make_ticket(desk)
    page = browser.get(f"/desk/tickets/{number}")  # Ann opens the ticket and starts writing
    desk.comment(bo, number, "I'm on it", channel="web")  # meanwhile Bo answers and resolves it
    desk.transition(bo, number, Status.RESOLVED)
    answer = browser.submit(f"/desk/tickets/{number}/reply", _form(page.text, body="Here is the fix"))
    assert answer.status_code == 200
    banner = re.search(r'<div class="changed-banner" role="status">.*?</div>', answer.text, re.S)
    assert banner, "no banner naming the changes"
    assert "Bo replied" in banner.group(0) and "Bo changed the status to resolved" in banner.group(0)
    assert "Ann replied" not in banner.group(0)
    bodies = [c.body for c in desk.visible_ticket(Actor.console(), number).comments]
    assert bodies[-2:] == ["I'm on it", "Here is the fix"]
    # Written against the page as it now stands, the next one goes through quietly.
    fresh = browser.get(f"/desk/tickets/{number}")
    again = browser.submit(f"/desk/tickets/{number}/reply", _form(fresh.text, body="One more thing"))
    assert again.status_code == 303


def test_the_live_regions_show_what_changed_since_the_page_was_opened(browser: Browser, desk: Desk) -> None:
    _agent(browser, desk)
    bo = staff(desk, BO)
    number = make_ticket(desk)
    page = browser.get(f"/desk/tickets/{number}").text
    seen = re.search(r'name="seen" value="(\d+)"', page)
    assert seen and f'hx-get="/desk/tickets/{number}/regions?seen={seen.group(1)}"' in page
    desk.comment(bo, number, "Internal detail", public=False, channel="web")
    regions = browser.get(
        f"/desk/tickets/{number}/regions?seen={seen.group(1)}", headers={"HX-Request": "true"}
    )
    assert regions.status_code == 200
    for region in ("conversation", "facts", "history"):
        assert f'id="{region}"' in regions.text
    assert regions.text.count('hx-swap-oob="true"') == 3
    assert "Internal detail" in regions.text and "Bo added an internal note" in regions.text


def test_files_are_attached_to_a_reply_and_downloaded_as_attachments(browser: Browser, desk: Desk) -> None:
    _agent(browser, desk)
    number = make_ticket(desk)
    page = browser.get(f"/desk/tickets/{number}")
    fields = _form(page.text, body="See the log")
    files = {"files": ("trace.html", b"<script>alert(1)</script>", "text/html")}
    sent = browser.post(f"/desk/tickets/{number}/reply", data={"csrf": browser.csrf, **fields}, files=files)
    assert sent.status_code == 303
    shown = browser.get(f"/desk/tickets/{number}").text
    link = re.search(rf'href="(/desk/tickets/{number}/files/\d+)">trace.html</a>', shown)
    assert link
    download = browser.get(link.group(1))
    assert download.status_code == 200 and download.content == b"<script>alert(1)</script>"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert browser.get(f"/desk/tickets/{number}/files/999999").status_code == 404


def test_what_people_wrote_is_escaped(browser: Browser, desk: Desk) -> None:
    _agent(browser, desk)
    number = make_ticket(
        desk, subject="<script>alert('subject')</script>", text="<img src=x onerror=alert(1)>"
    )
    for url in ("/desk?queue=open", f"/desk/tickets/{number}"):
        page = browser.get(url).text
        assert "<script>alert(" not in page and "&lt;script&gt;alert(" in page
        assert "<img src=x" not in page


def test_a_post_without_the_csrf_token_changes_nothing(browser: Browser, desk: Desk) -> None:
    _agent(browser, desk)
    number = make_ticket(desk)
    browser.get(f"/desk/tickets/{number}")
    assert browser.post(f"/desk/tickets/{number}/status", data={"status": "closed"}).status_code == 403
    forged = browser.post(f"/desk/tickets/{number}/reply", data={"body": "forged", "csrf": "0" * 40})
    assert forged.status_code == 403
    assert browser.post("/desk/bulk", data={"numbers": number, "action": "assign_me"}).status_code == 403
    detail = desk.visible_ticket(Actor.console(), number)
    assert detail.ticket.status == "open" and detail.ticket.assignee is None
    assert "forged" not in [c.body for c in detail.comments]


def test_an_admin_is_offered_the_sharing_agreements(browser: Browser, desk: Desk) -> None:
    staff(desk, "ada@support.test", role=Role.ADMIN)
    sign_in_with_password(browser, "ada@support.test")
    number = make_ticket(desk)
    page = browser.get(f"/desk/tickets/{number}").text
    assert 'id="share-agreement"' in page and "No accepted agreement" in page
    refused = browser.submit(f"/desk/tickets/{number}/share", {"agreement": "7"})
    assert refused.status_code == 422 and "no sharing agreement 7" in refused.text


def _form(page: str, action: str = "reply", **values: str) -> dict[str, str]:
    """The hidden fields of the page's reply (or note) form, with ``values``."""
    form = re.search(rf'<form[^>]*action="[^"]*/{action}".*?</form>', page, re.S)
    assert form, f"no {action} form"
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(0)))
    hidden.pop("csrf", None)
    return {**hidden, **values}
