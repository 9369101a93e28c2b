"""The ticket-sharing protocol's pure parts: identifiers, tokens, timestamps, payloads.

Payloads are shaped like what real peers send (see ``../shared/ticket_sharing.md``):
the Zendesk gem serialises every field of its classes, unset ones as ``null``,
and uses short ids such as ``t1`` in its tests; RT sends only what it has.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bot.sharing import protocol as p

HEX40 = re.compile(r"[0-9a-f]{40}")
AGREEMENT = "4f1c0a7e9b2d4c6e8a0b1c2d3e4f5a6b7c8d9e0f"
KEY = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"
TICKET = "b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e0b5e0"


def refused() -> Any:
    """``pytest.raises`` for a ProtocolError; :func:`answered` reads the status it carries."""
    return pytest.raises(p.ProtocolError)


def answered(error: pytest.ExceptionInfo[p.ProtocolError]) -> int:
    return error.value.status


def invitation(**overrides: Any) -> dict[str, Any]:
    """The doc's invitation as the gem sends it: every field, the unset ones null."""
    body: dict[str, Any] = {
        "receiver_url": "https://helpdesk.example.org/sharing",
        "sender_url": "https://acme.zendesk.com/sharing",
        "status": "pending",
        "uuid": AGREEMENT,
        "access_key": KEY,
        "name": "Acme Support",
        "current_actor": {"uuid": "3c2b", "name": "Ada Admin", "role": "admin"},
        "sync_tags": True,
        "sync_custom_fields": False,
        "allows_public_comments": True,
    }
    return {**body, **overrides}


def actor(uuid: str = "d41c", name: str = "Joe Customer", role: str | None = "end-user") -> dict[str, Any]:
    return {"uuid": uuid, "name": name, "role": role}


def comment(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": "c001",
        "author": actor(),
        "body": "It is on fire.",
        "html_body": "<p>It is on fire.</p>",
        "authored_at": "2026-03-02 09:15:00 +0100",
        "public": True,
        "attachments": None,
        "custom_fields": None,
    }
    return {**body, **overrides}


def shared_ticket(**overrides: Any) -> dict[str, Any]:
    """The doc's share, trimmed: what ``POST /tickets/{uuid}`` carries."""
    body: dict[str, Any] = {
        "uuid": TICKET,
        "subject": "Printer on fire",
        "requested_at": "2026-03-02 09:15:00 +0100",
        "status": "open",
        "original_id": "1042",
        "requester": actor(),
        "current_actor": actor("e9f2", "Sam Agent", "agent"),
        "tags": ["hardware", "urgent"],
        "custom_fields": {"Serial number": "X-99", "Warranty": True},
        "custom_status": None,
        "comments": [comment()],
    }
    return {**body, **overrides}


# -- identifiers and secrets -------------------------------------------------------------------


def test_resource_uuid_is_the_walkthroughs_worked_example() -> None:
    # sha1("mycompany.net/sharing/tickets/1")
    expected = "ed46838bfb41461e4f3b16ba471162c8e2764260"
    assert p.resource_uuid("http://mycompany.net/sharing", "tickets", 1) == expected


@pytest.mark.parametrize(
    "base",
    ["https://mycompany.net/sharing", "http://mycompany.net/sharing/", "https://mycompany.net/sharing//"],
)
def test_resource_uuid_ignores_the_scheme_and_a_trailing_slash(base: str) -> None:
    assert p.resource_uuid(base, "tickets", 1) == "ed46838bfb41461e4f3b16ba471162c8e2764260"


def test_resource_uuid_is_stable_and_differs_by_kind_id_and_host() -> None:
    base = "https://mycompany.net/sharing"
    first = p.resource_uuid(base, "tickets", 1)
    assert p.resource_uuid(base, "tickets", "1") == first
    others = {
        p.resource_uuid(base, "comments", 1),
        p.resource_uuid(base, "tickets", 2),
        p.resource_uuid("https://other.net/sharing", "tickets", 1),
        p.resource_uuid("https://mycompany.net:8443/sharing", "tickets", 1),
    }
    assert first not in others and len(others) == 4
    assert all(HEX40.fullmatch(value) for value in others)


def test_new_secret_is_40_hex_and_never_repeats() -> None:
    secrets = [p.new_secret() for _ in range(200)]
    assert all(HEX40.fullmatch(secret) for secret in secrets)
    assert len(set(secrets)) == len(secrets)


# -- the token header ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "parts"),
    [
        (f"{AGREEMENT}:{KEY}", (AGREEMENT, KEY)),
        ("5ad614f4:secret", ("5ad614f4", "secret")),
        # Split at the first colon: a key holding one survives whole.
        ("a1:key:with:colons", ("a1", "key:with:colons")),
        ("  a1:key \r\n", ("a1", "key")),
    ],
)
def test_split_token_splits_at_the_first_colon(header: str, parts: tuple[str, str]) -> None:
    assert p.split_token(header) == parts
    assert p.token(*parts) == header.strip()


@pytest.mark.parametrize("header", [None, "", "   ", "no-colon", ":key-only", "uuid-only:", ":"])
def test_split_token_reads_a_missing_or_half_token_as_none(header: str | None) -> None:
    assert p.split_token(header) is None


# -- uuids and keys ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["t1", "5ad614f4", "123abc", AGREEMENT, "A-b_c.d~e", "x" * p.MAX_TOKEN])
@pytest.mark.parametrize("agreement", [False, True])
def test_check_uuid_accepts_the_gems_short_ids_and_40_hex(value: str, agreement: bool) -> None:
    assert p.check_uuid(value, "uuid", agreement=agreement) == value


@pytest.mark.parametrize(
    "value",
    ["", "a/b", "/", "../etc", "has space", "x" * (p.MAX_TOKEN + 1), None, 5, 1.5, ["t1"], {"uuid": "t1"}],
)
@pytest.mark.parametrize("agreement", [False, True])
def test_check_uuid_refuses_empty_slashes_and_non_strings_with_422(value: object, agreement: bool) -> None:
    with refused() as error:
        p.check_uuid(value, "the ticket uuid", agreement=agreement)
    assert answered(error) == 422
    assert "the ticket uuid" in error.value.message


def test_check_uuid_refuses_a_colon_in_an_agreement_uuid() -> None:
    """The token is split at the first colon, so an agreement's uuid cannot hold one."""
    with refused() as error:
        p.check_uuid("a1:b2", "the agreement uuid", agreement=True)
    assert answered(error) == 422


def test_check_uuid_allows_a_colon_in_other_uuids() -> None:
    # ':' is legal in a URL path segment; only the agreement's uuid is split off a token.
    assert p.check_uuid("t1:2", "the ticket uuid") == "t1:2"


@pytest.mark.parametrize("value", [KEY, "s3cr3t", "key:with:colons", "!#$%&'()*+,-./~", "k" * p.MAX_TOKEN])
def test_check_key_takes_any_printable_ascii(value: str) -> None:
    assert p.check_key(value) == value


@pytest.mark.parametrize(
    "value", ["", "has space", "tab\there", "nul\x00", "ключ", "k" * (p.MAX_TOKEN + 1), None, 42, True]
)
def test_check_key_refuses_spaces_non_ascii_and_non_strings(value: object) -> None:
    with refused() as error:
        p.check_key(value)
    assert answered(error) == 422


# -- timestamps --------------------------------------------------------------------------------


def test_format_time_writes_the_gems_format() -> None:
    pacific = timezone(timedelta(hours=-8))
    assert (
        p.format_time(datetime(2010, 11, 24, 14, 13, 54, 999, tzinfo=pacific)) == "2010-11-24 14:13:54 -0800"
    )
    assert p.format_time(datetime(2010, 11, 24, 22, 13, 54, tzinfo=UTC)) == "2010-11-24 22:13:54 +0000"
    india = timezone(timedelta(hours=5, minutes=30))
    assert p.format_time(datetime(2026, 3, 2, 9, 15, tzinfo=india)) == "2026-03-02 09:15:00 +0530"


def test_format_time_reads_a_naive_moment_as_utc() -> None:
    assert p.format_time(datetime(2026, 3, 2, 9, 15)) == "2026-03-02 09:15:00 +0000"


UTC_MOMENT = datetime(2010, 11, 24, 22, 13, 54, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2010-11-24 14:13:54 -0800",  # the gem
        "2010-11-24 22:13:54 +0000",  # RT's GET answers
        "2010-11-24T22:13:54Z",
        "2010-11-24T22:13:54z",
        "2010-11-24T23:13:54+01:00",
        "2010-11-24T23:13:54+0100",
        "2010-11-24 23:13:54 +01:00",
        "2010-11-24T14:13:54-08:00",
        "2010-11-24 22:13:54",  # no offset: UTC
        "2010-11-24T22:13:54",
        " 2010-11-24 14:13:54 -0800\n",
    ],
)
def test_parse_time_reads_the_gems_format_iso_8601_and_no_offset_as_utc(text: str) -> None:
    moment = p.parse_time(text)
    assert moment == UTC_MOMENT
    assert moment is not None and moment.utcoffset() == timedelta(0)


def test_parse_time_keeps_fractions_and_reads_a_date_as_midnight_utc() -> None:
    assert p.parse_time("2010-11-24T22:13:54.250Z") == UTC_MOMENT + timedelta(milliseconds=250)
    assert p.parse_time("2010-11-24") == datetime(2010, 11, 24, tzinfo=UTC)


def test_parse_time_round_trips_format_time() -> None:
    moment = datetime(2026, 3, 2, 9, 15, tzinfo=timezone(timedelta(hours=1)))
    assert p.parse_time(p.format_time(moment)) == moment


def test_parse_time_reads_null_as_absent() -> None:
    assert p.parse_time(None) is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "yesterday",
        "Zebra",
        "2010-13-24 14:13:54 +0000",
        "2010-11-24 25:13:54",
        "24/11/2010 14:13",
        "2010-11-24 14:13:54 +0100 garbage",
        1290636834,
        12.5,
        True,
        ["2010-11-24"],
        {"at": "2010-11-24"},
        pytest.param(
            "2010-11-24 14:13:54 +2400",
        ),
        pytest.param(
            "2010-11-24 14:13:54 +0199",
        ),
        pytest.param(
            "0001-01-01 00:00:00 +0100",
        ),
    ],
)
def test_parse_time_refuses_anything_else_with_422(value: object) -> None:
    with refused() as error:
        p.parse_time(value)
    assert answered(error) == 422


# -- agreements --------------------------------------------------------------------------------


def test_read_agreement_reads_the_gems_invitation() -> None:
    offer = p.read_agreement(invitation(), AGREEMENT)
    assert offer == p.AgreementIn(
        uuid=AGREEMENT,
        access_key=KEY,
        name="Acme Support",
        sender_url="https://acme.zendesk.com/sharing",
        receiver_url="https://helpdesk.example.org/sharing",
        status="pending",
        deactivated_by=None,
        current_actor=p.ActorIn("3c2b", "Ada Admin", "admin"),
        sync_tags=True,
        sync_custom_fields=False,
        allows_public_comments=True,
    )


def test_read_agreement_reads_nulls_and_missing_keys_as_absent() -> None:
    everything_null = dict.fromkeys(invitation())
    expected = p.AgreementIn(uuid=AGREEMENT)
    assert p.read_agreement(everything_null, AGREEMENT) == expected
    assert p.read_agreement({}, AGREEMENT) == expected
    # RT's and the walkthrough's partial PUT.
    change = p.read_agreement({"uuid": AGREEMENT, "status": "accepted"}, AGREEMENT)
    assert (change.status, change.access_key, change.sync_tags) == ("accepted", None, None)


def test_read_agreement_takes_the_uuid_from_the_url_when_the_body_has_none() -> None:
    assert p.read_agreement({"status": "inactive"}, "a1").uuid == "a1"


@pytest.mark.parametrize("body_uuid", ["another", AGREEMENT.upper(), "", 5])
def test_read_agreement_refuses_a_uuid_that_differs_from_the_urls(body_uuid: object) -> None:
    with refused() as error:
        p.read_agreement(invitation(uuid=body_uuid), AGREEMENT)
    assert answered(error) == 422 and "URL" in error.value.message


@pytest.mark.parametrize("url_uuid", ["a1:b2", "a/b", ""])
def test_read_agreement_refuses_a_bad_uuid_in_the_url(url_uuid: str) -> None:
    with refused() as error:
        p.read_agreement({}, url_uuid)
    assert answered(error) == 422


@pytest.mark.parametrize("status", p.AGREEMENT_STATUSES)
def test_read_agreement_knows_the_four_statuses(status: str) -> None:
    assert p.read_agreement({"status": status}, "a1").status == status


@pytest.mark.parametrize("status", ["active", "Accepted", "failed", "ssl_error", "", 1, True])
def test_read_agreement_refuses_an_unknown_status(status: object) -> None:
    with refused() as error:
        p.read_agreement({"status": status}, "a1")
    assert answered(error) == 422


@pytest.mark.parametrize("side", [p.SENDER, p.RECEIVER])
def test_read_agreement_reads_deactivated_by(side: str) -> None:
    change = p.read_agreement({"status": "inactive", "deactivated_by": side}, "a1")
    assert (change.status, change.deactivated_by) == ("inactive", side)


@pytest.mark.parametrize("who", ["admin", "Sender", "both", "", 0])
def test_read_agreement_refuses_a_bad_deactivated_by(who: object) -> None:
    with refused() as error:
        p.read_agreement({"status": "inactive", "deactivated_by": who}, "a1")
    assert answered(error) == 422


@pytest.mark.parametrize("flag", ["sync_tags", "sync_custom_fields", "allows_public_comments"])
@pytest.mark.parametrize("value", ["true", "false", 1, 0, [], {}])
def test_read_agreement_refuses_flags_that_are_not_booleans(flag: str, value: object) -> None:
    with refused() as error:
        p.read_agreement(invitation(**{flag: value}), AGREEMENT)
    assert answered(error) == 422 and flag in error.value.message


@pytest.mark.parametrize("flag", ["sync_tags", "sync_custom_fields", "allows_public_comments"])
def test_read_agreement_reads_each_flag(flag: str) -> None:
    assert getattr(p.read_agreement({flag: False}, "a1"), flag) is False
    assert getattr(p.read_agreement({flag: True}, "a1"), flag) is True


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        ("https://acme.zendesk.com/sharing/", "https://acme.zendesk.com/sharing"),
        ("  http://rt.example.org/NoAuth/NHD/1.0 ", "http://rt.example.org/NoAuth/NHD/1.0"),
        ("http://[2001:db8::1]:8080/sharing", "http://[2001:db8::1]:8080/sharing"),
    ],
)
@pytest.mark.parametrize("key", ["sender_url", "receiver_url"])
def test_read_agreement_reads_urls_without_a_trailing_slash(key: str, sent: str, read: str) -> None:
    assert getattr(p.read_agreement({key: sent}, "a1"), key) == read


@pytest.mark.parametrize(
    "url",
    [
        "ftp://acme.example.com/sharing",
        "acme.example.com/sharing",
        "https:///sharing",
        "javascript:alert(1)",
        "https://acme.example.com/" + "x" * p.MAX_URL,
        42,
        ["https://acme.example.com"],
        pytest.param(
            "https://[::1/sharing",
        ),
        *(
            pytest.param(
                url,
                id=name,
            )
            for name, url in [
                ("nul", "https://acme.example.com/sha\x00ring"),
                ("newline", "https://acme.exa\nmple.com/sharing"),
                ("port-out-of-range", "https://acme.example.com:99999/sharing"),
            ]
        ),
    ],
)
@pytest.mark.parametrize("key", ["sender_url", "receiver_url"])
def test_read_agreement_refuses_what_is_not_an_http_url(key: str, url: object) -> None:
    with refused() as error:
        p.read_agreement({key: url}, "a1")
    assert answered(error) == 422 and key in error.value.message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("access_key", "has space"),
        ("access_key", 12345),
        ("name", 7),
        ("name", "Acme\x00"),
        ("status", "\x00"),
    ],
)
def test_read_agreement_checks_the_key_and_the_texts(key: str, value: object) -> None:
    with refused() as error:
        p.read_agreement({key: value}, "a1")
    assert answered(error) == 422


def test_read_agreement_trims_and_bounds_the_name() -> None:
    assert p.read_agreement({"name": "  Acme  "}, "a1").name == "Acme"
    long = p.read_agreement({"name": "n" * (p.MAX_NAME + 50)}, "a1").name
    assert long is not None and len(long) == p.MAX_NAME


@pytest.mark.parametrize("body", [None, [], "agreement", 42, [invitation()]])
def test_read_agreement_refuses_a_body_that_is_not_an_object(body: object) -> None:
    with refused() as error:
        p.read_agreement(body, AGREEMENT)
    assert answered(error) == 422


@pytest.mark.parametrize(
    "current_actor", ["Ada", ["3c2b"], {"name": "Ada"}, {"uuid": None, "name": "Ada"}, {"uuid": "a/b"}]
)
def test_read_agreement_refuses_an_actor_without_a_usable_uuid(current_actor: object) -> None:
    with refused() as error:
        p.read_agreement(invitation(current_actor=current_actor), AGREEMENT)
    assert answered(error) == 422


# -- tickets -----------------------------------------------------------------------------------


def test_read_ticket_reads_the_docs_share() -> None:
    ticket = p.read_ticket(shared_ticket(), TICKET)
    assert ticket.uuid == TICKET
    assert ticket.subject == "Printer on fire"
    assert ticket.requested_at == datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
    assert ticket.status == "open"
    assert ticket.original_id == "1042"
    assert ticket.requester == p.ActorIn("d41c", "Joe Customer", "end-user")
    assert ticket.current_actor == p.ActorIn("e9f2", "Sam Agent", "agent")
    assert ticket.tags == ("hardware", "urgent")
    assert ticket.custom_fields == {"Serial number": "X-99", "Warranty": True}
    [first] = ticket.comments
    assert first == p.CommentIn(
        uuid="c001",
        author=p.ActorIn("d41c", "Joe Customer", "end-user"),
        body="It is on fire.",
        html="<p>It is on fire.</p>",
        authored_at=datetime(2026, 3, 2, 8, 15, tzinfo=UTC),
        public=True,
        attachments=(),
    )


def test_read_ticket_accepts_null_in_every_field_the_gem_sends() -> None:
    everything_null = dict.fromkeys(shared_ticket())
    assert p.read_ticket(everything_null, TICKET) == p.TicketIn(uuid=TICKET)
    null_comment = {**dict.fromkeys(comment()), "uuid": "c1"}
    [read] = p.read_ticket({"comments": [null_comment]}, TICKET).comments
    assert read == p.CommentIn("c1", None, "", None, None, None, ())
    null_actor = p.read_ticket({"requester": {"uuid": "u1", "name": None, "role": None}}, TICKET).requester
    assert null_actor == p.ActorIn("u1", "", None)


def test_read_ticket_reads_the_walkthroughs_partial_update() -> None:
    update = {
        "uuid": TICKET,
        "status": "pending",
        "current_actor": actor("77ab", "Hal Hardware", "agent"),
        "comments": [
            {"uuid": "c003", "body": "Replacement shipped.", "authored_at": "2026-03-02 11:02:40 +0000"}
        ],
    }
    ticket = p.read_ticket(update, TICKET)
    assert (ticket.subject, ticket.tags, ticket.custom_fields, ticket.requester) == (None, None, None, None)
    assert ticket.status == "pending" and [c.uuid for c in ticket.comments] == ["c003"]


@pytest.mark.parametrize("body_uuid", ["another", TICKET.upper(), 1])
def test_read_ticket_refuses_a_uuid_that_differs_from_the_urls(body_uuid: object) -> None:
    with refused() as error:
        p.read_ticket(shared_ticket(uuid=body_uuid), TICKET)
    assert answered(error) == 422 and "URL" in error.value.message


@pytest.mark.parametrize("body", [None, [], "ticket", [shared_ticket()]])
def test_read_ticket_refuses_a_body_that_is_not_an_object(body: object) -> None:
    with refused() as error:
        p.read_ticket(body, TICKET)
    assert answered(error) == 422


@pytest.mark.parametrize("comments", [{"uuid": "c1"}, "c1", 1, True])
def test_read_ticket_refuses_comments_that_are_not_a_list(comments: object) -> None:
    with refused() as error:
        p.read_ticket({"comments": comments}, TICKET)
    assert answered(error) == 422 and "comments" in error.value.message


@pytest.mark.parametrize("item", [None, "c1", ["c1"], {"body": "no uuid"}, {"uuid": ""}, {"uuid": "c/1"}])
def test_read_ticket_refuses_a_comment_that_is_not_an_object_with_a_uuid(item: object) -> None:
    with refused() as error:
        p.read_ticket({"comments": [comment(), item]}, TICKET)
    assert answered(error) == 422 and "comments[1]" in error.value.message


@pytest.mark.parametrize("tags", ["hardware", {"hardware": True}, [1], ["ok", None], [["nested"]]])
def test_read_ticket_refuses_tags_that_are_not_a_list_of_strings(tags: object) -> None:
    with refused() as error:
        p.read_ticket({"tags": tags}, TICKET)
    assert answered(error) == 422 and "tags" in error.value.message


def test_read_ticket_trims_tags_drops_blank_ones_and_bounds_them() -> None:
    assert p.read_ticket({"tags": [" a ", "", "   ", "b"]}, TICKET).tags == ("a", "b")
    assert p.read_ticket({"tags": []}, TICKET).tags == ()
    many = p.read_ticket({"tags": [f"t{n}" for n in range(p.MAX_TAGS + 10)]}, TICKET).tags
    assert many is not None and len(many) == p.MAX_TAGS
    [long] = p.read_ticket({"tags": ["x" * 300]}, TICKET).tags or ()
    assert len(long) == 100


def test_read_ticket_keeps_nested_custom_fields_as_sent() -> None:
    fields = {"Serial": "X-99", "Count": 3, "Parts": ["a", "b"], "Vendor": {"name": "Acme", "ids": [1, 2]}}
    assert p.read_ticket({"custom_fields": fields}, TICKET).custom_fields == fields


@pytest.mark.parametrize("fields", [["Serial"], "Serial=X-99", 3])
def test_read_ticket_refuses_custom_fields_that_are_not_an_object(fields: object) -> None:
    with refused() as error:
        p.read_ticket({"custom_fields": fields}, TICKET)
    assert answered(error) == 422


@pytest.mark.parametrize(("sent", "read"), [(True, True), (False, False), (None, None), ("missing", None)])
def test_read_ticket_reads_a_comments_public_flag_and_none_when_unsaid(
    sent: object, read: bool | None
) -> None:
    item = comment(public=sent)
    if sent == "missing":
        del item["public"]
    [first] = p.read_ticket({"comments": [item]}, TICKET).comments
    assert first.public is read


@pytest.mark.parametrize("public", ["true", 1, 0, []])
def test_read_ticket_refuses_a_public_flag_that_is_not_a_boolean(public: object) -> None:
    with refused() as error:
        p.read_ticket({"comments": [comment(public=public)]}, TICKET)
    assert answered(error) == 422 and "comments[0].public" in error.value.message


def test_read_ticket_reads_attachments_preferring_the_display_filename() -> None:
    files = [
        {
            "url": "https://acme.example/a/1",
            "filename": "IMG_1.jpg",
            "content_type": "image/jpeg",
            "display_filename": "fire.jpg",
        },
        {
            "url": "https://acme.example/a/2",
            "filename": "log.txt",
            "content_type": None,
            "display_filename": None,
        },
        {"url": "https://acme.example/a/3", "filename": "old.pdf"},  # before display_filename (2013)
    ]
    [item] = p.read_ticket({"comments": [comment(attachments=files)]}, TICKET).comments
    assert item.attachments == (
        p.AttachmentIn("https://acme.example/a/1", "fire.jpg", "image/jpeg"),
        p.AttachmentIn("https://acme.example/a/2", "log.txt", None),
        p.AttachmentIn("https://acme.example/a/3", "old.pdf", None),
    )


@pytest.mark.parametrize("attachments", [None, []])
def test_read_ticket_reads_null_or_empty_attachments_as_none(attachments: object) -> None:
    [item] = p.read_ticket({"comments": [comment(attachments=attachments)]}, TICKET).comments
    assert item.attachments == ()


@pytest.mark.parametrize(
    "attachments",
    [
        "https://acme.example/a/1",
        ["https://acme.example/a/1"],
        [{"filename": "fire.jpg"}],
        [{"url": "https://acme.example/a/1"}],
        [{"url": "", "filename": "fire.jpg"}],
        [{"url": "https://acme.example/a/1", "filename": 5}],
        [{"url": "https://acme.example/a/1", "filename": "fire.jpg", "content_type": ["image/jpeg"]}],
    ],
)
def test_read_ticket_refuses_attachments_without_a_url_and_a_filename(attachments: object) -> None:
    with refused() as error:
        p.read_ticket({"comments": [comment(attachments=attachments)]}, TICKET)
    assert answered(error) == 422


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"subject": "Printer\x00on fire"}, id="subject"),
        pytest.param({"status": "open\x00"}, id="status"),
        pytest.param({"requester": actor(name="Joe\x00")}, id="requester.name"),
        pytest.param({"current_actor": actor(role="agent\x00")}, id="current_actor.role"),
        pytest.param({"comments": [comment(body="fire\x00")]}, id="comment.body"),
        pytest.param({"comments": [comment(html_body="<p>\x00</p>")]}, id="comment.html_body"),
        pytest.param({"comments": [comment(author=actor(name="\x00"))]}, id="comment.author.name"),
        pytest.param(
            {"comments": [comment(attachments=[{"url": "https://a.example/\x00", "filename": "f"}])]},
            id="attachment.url",
        ),
        pytest.param(
            {"comments": [comment(attachments=[{"url": "https://a.example/1", "filename": "f\x00"}])]},
            id="attachment.filename",
        ),
        pytest.param(
            {"tags": ["hard\x00ware"]},
            id="tags",
        ),
        pytest.param(
            {"original_id": "10\x0042"},
            id="original_id",
        ),
    ],
)
def test_read_ticket_refuses_nul_characters_in_strings(body: dict[str, Any]) -> None:
    """PostgreSQL cannot store NUL in text: it must be the partner's 422, not our 500."""
    with refused() as error:
        p.read_ticket(body, TICKET)
    assert answered(error) == 422


@pytest.mark.parametrize(("key", "value"), [("subject", 42), ("status", ["open"]), ("requested_at", "soon")])
def test_read_ticket_refuses_fields_of_the_wrong_type(key: str, value: object) -> None:
    with refused() as error:
        p.read_ticket({key: value}, TICKET)
    assert answered(error) == 422


def test_read_ticket_trims_and_bounds_subject_and_original_id() -> None:
    ticket = p.read_ticket({"subject": "  " + "s" * (p.MAX_SUBJECT + 5), "original_id": 12}, TICKET)
    assert ticket.subject is not None and len(ticket.subject) == p.MAX_SUBJECT
    assert ticket.original_id == "12"  # the gem sends "12"; a number reads the same


# -- actors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "agent"), [("agent", True), ("admin", True), ("end-user", False), (None, False)]
)
def test_an_actor_works_tickets_when_agent_or_admin(role: str | None, agent: bool) -> None:
    assert p.ActorIn("u1", "Someone", role).agent is agent
