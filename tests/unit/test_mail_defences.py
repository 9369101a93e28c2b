"""Pure rules of the mail defences: who a ban covers, how a ban is written, and whose spam
verdicts count."""

from __future__ import annotations

import pytest

from bot.config.channels import EmailSettings, SpamHeaderTest
from bot.errors import UserError
from bot.policies.bans import normalised
from bot.tickets.suspension import banned_by
from channels.email.spam import SpamVerdicts

BANS = frozenset({"pest@example.com", "spam.example", "co.uk.example"})


@pytest.mark.parametrize(
    ("address", "ban"),
    [
        ("pest@example.com", "pest@example.com"),
        ("PEST@Example.com", "pest@example.com"),
        ("other@example.com", None),
        ("a@spam.example", "spam.example"),
        ("a@deep.mail.spam.example", "spam.example"),
        ("a@notspam.example", None),  # a suffix of the name is not a subdomain
        ("a@spam.example.org", None),
        ("spam.example", None),  # no address at all
        ("", None),
        (None, None),
    ],
)
def test_a_ban_covers_its_address_or_its_domain_and_subdomains(address, ban):
    assert banned_by(BANS, address) == ban


def test_a_top_level_domain_alone_is_never_matched():
    assert banned_by(frozenset({"example"}), "a@spam.example") is None


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("Pest@Example.COM", "pest@example.com"),
        ("  example.com ", "example.com"),
        ("@example.com", "example.com"),
        ("*.example.com", "example.com"),
        ("example.com.", "example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
    ],
)
def test_bans_are_kept_in_one_spelling(written, kept):
    assert normalised(written) == kept


@pytest.mark.parametrize("written", ["", "com", "a@", "@", "a@b@c.example", "no spaces.example", "x" * 300])
def test_what_names_no_address_or_domain_is_refused(written):
    with pytest.raises(UserError) as refused:
        normalised(written)
    assert refused.value.field == "pattern"


def verdicts(**options: object) -> SpamVerdicts:
    return SpamVerdicts(EmailSettings(**options))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("peer", "trusted"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),  # a dual-stack socket's view of IPv4 loopback
        ("192.0.2.1", False),
        ("", False),
        (None, False),
        ("not an address", False),
    ],
)
def test_only_trusted_peers_verdicts_count(peer, trusted):
    assert verdicts().trusted_peer(peer) is trusted


def test_trusted_hosts_take_networks():
    spam = verdicts(spam_trusted_hosts="10.1.0.0/16, 2001:db8::/32")
    assert spam.trusted_peer("10.1.2.3") and spam.trusted_peer("2001:db8::5")
    assert not spam.trusted_peer("10.2.0.1") and not spam.trusted_peer("127.0.0.1")


@pytest.mark.parametrize(
    ("headers", "verdict"),
    [
        ("X-Spam-Flag: YES\r\n", "X-Spam-Flag: YES"),
        ("X-Spam-Status: Yes, score=9.1\r\n required=5.0\r\n", "X-Spam-Status: Yes, score=9.1 required=5.0"),
        ("X-Spam: yes\r\n", "X-Spam: yes"),
        ("X-Spam-Flag: NO\r\n", None),
        ("X-Spam-Status: No, score=1.0 tests=YES_SIR\r\n", None),
        ("X-Spam-Report: yes\r\n", None),
        ("", None),
    ],
)
def test_the_shipped_tests_read_spamassassin_and_rspamd_verdicts(headers, verdict):
    raw = f"From: a@example.com\r\nSubject: hi\r\n{headers}\r\nX-Spam-Flag: YES in the body\r\n".encode()
    assert verdicts().verdict(raw) == verdict


def test_a_verdict_in_the_body_is_no_verdict():
    raw = b"From: a@example.com\n\nX-Spam-Flag: YES\n"
    assert verdicts().verdict(raw) is None


def test_custom_tests_replace_the_shipped_ones():
    spam = verdicts(spam_headers=(SpamHeaderTest("X-Barracuda-Spam-Status", "^yes"),))
    assert (
        spam.verdict(b"X-Barracuda-Spam-Status: Yes, score 9\r\n\r\n")
        == "X-Barracuda-Spam-Status: Yes, score 9"
    )
    assert spam.verdict(b"X-Spam-Flag: YES\r\n\r\n") is None


def test_only_the_topmost_verdict_counts():
    """Our filter writes its verdict on top; a NO above a sender's own YES is the verdict."""
    raw = b"X-Spam-Flag: NO\r\nX-Spam-Flag: YES\r\nFrom: a@example.com\r\n\r\nhi\r\n"
    assert verdicts().verdict(raw) is None
    assert verdicts().verdict(b"X-Spam-Flag: YES\r\nX-Spam-Flag: NO\r\n\r\n") == "X-Spam-Flag: YES"


def test_an_internationalised_domain_is_banned_in_either_spelling():
    bans = frozenset({normalised("bäd.example")})
    assert banned_by(bans, "x@bäd.example") == "xn--bd-via.example"
    assert banned_by(bans, "x@XN--BD-VIA.example") == "xn--bd-via.example"
    assert banned_by(bans, "x@sub.bäd.example") == "xn--bd-via.example"
