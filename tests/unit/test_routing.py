import pytest

from bot.routing.routes import Route, first_route, least_loaded, next_round_robin, sender_matches


def test_round_robin_goes_around_in_id_order():
    agents = [7, 3, 5]
    picks, last = [], None
    for _ in range(4):
        last = next_round_robin(agents, last)
        picks.append(last)
    assert picks == [3, 5, 7, 3]


def test_round_robin_survives_the_last_agent_leaving_the_team():
    assert next_round_robin([3, 5], last_assigned=4) == 5
    assert next_round_robin([3, 5], last_assigned=9) == 3


def test_round_robin_with_nobody_gives_nobody():
    assert next_round_robin([], None) is None


def test_least_loaded_prefers_fewest_then_lowest_id():
    assert least_loaded({4: 2, 2: 1, 9: 1}) == 2
    assert least_loaded({}) is None


@pytest.mark.parametrize(
    ("pattern", "email", "matches"),
    [
        ("@example.com", "Ann@Example.COM", True),
        ("@example.com", "ann@mail.example.com", False),  # not its subdomains
        ("@example.com", "ann@example.com.evil.test", False),
        ("ann@example.com", "ANN@example.com", True),
        ("ann@example.com", "bob@example.com", False),
        ("@example.com", None, False),  # a Slack user without an email
    ],
)
def test_sender_is_an_address_or_a_whole_domain(pattern: str, email: str | None, matches: bool) -> None:
    assert sender_matches(pattern, email) is matches


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("Our VPN is down", True),
        ("vpn.", True),
        ("the vpnclient crashed", False),
        ("site-to-site tunnel drops", True),
        ("A Site-to-Site  Tunnel", False),  # a phrase matches as written, spaces included
        ("c++ build fails", True),  # keywords are text, not patterns
        ("", False),
    ],
)
def test_keywords_match_whole_words_in_any_case(text: str, matches: bool) -> None:
    rule = Route(1, "words", keywords=("vpn", "site-to-site tunnel", "c++"))
    assert rule.matches("email", None, None, text) is matches


def test_every_condition_given_must_hold_and_empty_ones_do_not_narrow() -> None:
    rule = Route(1, "Sales VPN", channel="email", mailbox="sales@support.test", keywords=("vpn",))
    assert rule.matches("email", "Sales@Support.test", "ann@x.test", "VPN down")
    assert not rule.matches("slack", "sales@support.test", "ann@x.test", "VPN down")
    assert not rule.matches("email", "help@support.test", "ann@x.test", "VPN down")
    assert not rule.matches("email", "sales@support.test", "ann@x.test", "Printer")
    assert Route(2, "Everything").matches("api", None, None, "")


def test_the_first_matching_rule_wins() -> None:
    rules = [Route(1, "slack", channel="slack"), Route(2, "any"), Route(3, "never reached")]
    assert first_route(rules, "slack", None, None, "").name == "slack"
    assert first_route(rules, "email", None, None, "").name == "any"
    assert first_route([], "email", None, None, "") is None


@pytest.mark.parametrize(
    ("keyword", "text", "matches"),
    [
        ("Ärger", "großer ÄRGER im Büro", True),
        ("STRASSE", "die Straße ist gesperrt", False),  # the pattern decides: ß is not ss as a word
        ("kelvin", "\u212aELVIN scale", True),  # KELVIN SIGN folds to k
        ("vpn", "VPNs everywhere", False),
    ],
)
def test_a_rule_matches_keywords_in_any_case_beyond_ascii(keyword: str, text: str, matches: bool) -> None:
    assert Route(1, "r", keywords=(keyword,)).matches("email", None, None, text) is matches
    assert (
        first_route([Route(1, "r", keywords=(keyword,))], "email", None, None, text) is not None
    ) is matches
