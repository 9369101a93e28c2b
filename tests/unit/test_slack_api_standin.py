"""The Slack Web API stand-in speaks the real slack_sdk clients' protocol."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookClient

import tests.slack_api
from tests.slack_api import SlackApiStandIn, sign

slack_api = tests.slack_api.slack_api  # the fixture, bound by assignment so parameters may shadow it

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*SUP-1* opened"}}]


def client(stand_in: SlackApiStandIn, **options: Any) -> WebClient:
    return WebClient(token="xoxb-test", base_url=stand_in.base_url, **options)


def test_post_message_returns_increasing_ts_and_records_what_was_sent(slack_api: SlackApiStandIn):
    web = client(slack_api)
    first = web.chat_postMessage(channel="C1", text="opened", blocks=BLOCKS)
    reply = web.chat_postMessage(channel="C1", text="reply", thread_ts=first["ts"])
    assert float(first["ts"]) < float(reply["ts"]) and first["ts"] < reply["ts"]
    assert (reply["channel"], reply["message"]["thread_ts"]) == ("C1", first["ts"])
    opened, replied = slack_api.wait_for("chat.postMessage", count=2)
    assert opened.params == {"channel": "C1", "text": "opened", "blocks": BLOCKS}
    assert (replied.params["thread_ts"], replied.token, replied.failed) == (first["ts"], "xoxb-test", False)


def test_form_posted_json_values_are_decoded_and_views_are_echoed(slack_api: SlackApiStandIn):
    web = client(slack_api)
    web.api_call("chat.postMessage", data={"channel": "C2", "blocks": '[{"type": "divider"}]'})
    assert slack_api.calls("chat.postMessage")[0].params["blocks"] == [{"type": "divider"}]
    view = {"type": "home", "blocks": BLOCKS}
    assert web.views_publish(user_id="U1", view=view)["view"] == {"id": "V1", **view}
    assert web.conversations_open(users=["U123"])["channel"]["id"] == "D123"


def test_users_info_answers_from_the_directory_and_rejects_unknown_users(slack_api: SlackApiStandIn):
    slack_api.add_user("U1", "ann@example.com", "Ann")
    web = client(slack_api)
    user = web.users_info(user="U1")["user"]
    assert (user["id"], user["profile"]["email"], user["is_bot"]) == ("U1", "ann@example.com", False)
    with pytest.raises(SlackApiError) as raised:
        web.users_info(user="U404")
    assert raised.value.response["error"] == "user_not_found"
    assert [call.params["user"] for call in slack_api.calls("users.info")] == ["U1", "U404"]


def test_queued_rate_limit_answers_429_with_retry_after(slack_api: SlackApiStandIn):
    slack_api.fail("chat.postMessage", status=429, retry_after=7)
    web = client(slack_api, retry_handlers=[])
    with pytest.raises(SlackApiError) as raised:
        web.chat_postMessage(channel="C1", text="hi")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert raised.value.response["error"] == "ratelimited"
    assert web.chat_postMessage(channel="C1", text="hi")["ok"]  # the fault was used up
    assert [call.failed for call in slack_api.calls()] == [True, False]


def test_queued_server_error_and_slack_error_are_answered_in_order(slack_api: SlackApiStandIn):
    slack_api.fail("chat.update", status=500)
    slack_api.fail("chat.update", error="channel_not_found")
    web = client(slack_api, retry_handlers=[])
    with pytest.raises(SlackApiError) as server_error:
        web.chat_update(channel="C1", ts="1.2", text="x")
    with pytest.raises(SlackApiError) as slack_error:
        web.chat_update(channel="C1", ts="1.2", text="x")
    assert server_error.value.response.status_code == 500
    assert (slack_error.value.response.status_code, slack_error.value.response["error"]) == (
        200,
        "channel_not_found",
    )


def test_async_client_auth_test_sends_the_token(slack_api: SlackApiStandIn):
    async def bot_user_id() -> Any:
        web = AsyncWebClient(token="xoxb-async", base_url=slack_api.base_url)
        return (await web.auth_test())["user_id"]

    assert asyncio.run(bot_user_id()) == slack_api.bot_user_id
    assert slack_api.calls("auth.test")[0].token == "xoxb-async"


def test_wait_for_raises_with_what_was_recorded(slack_api: SlackApiStandIn):
    client(slack_api).auth_test()
    with pytest.raises(AssertionError, match=r"chat\.postMessage.*'auth\.test': 1"):
        slack_api.wait_for("chat.postMessage", timeout=0.05)


def test_response_url_posts_are_recorded(slack_api: SlackApiStandIn):
    response = WebhookClient(slack_api.response_url("r7")).send(text="done", replace_original=True)
    assert (response.status_code, response.body) == (200, "ok")
    [call] = slack_api.wait_for("response:r7")
    assert call.params == {"text": "done", "replace_original": True}


def test_sign_produces_headers_the_sdk_verifier_accepts():
    body = b"token=x&command=%2Fticket"
    headers = sign(body, "s3cret")
    verifier = SignatureVerifier("s3cret")
    assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    assert sign(body, "s3cret", timestamp=1_700_000_000)["X-Slack-Request-Timestamp"] == "1700000000"
