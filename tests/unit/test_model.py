import pytest

from bot.errors import UserError
from bot.model import Priority, parse_number, parse_priority


def test_critical_is_accepted_as_urgent():
    assert parse_priority("Critical") is Priority.URGENT
    assert parse_priority(" high ") is Priority.HIGH


def test_unknown_priority_lists_the_accepted_ones():
    with pytest.raises(UserError, match="low, medium, high, urgent"):
        parse_priority("whenever")


@pytest.mark.parametrize("text", ["SUP-12", "sup-12", "12", " SUP-12 "])
def test_ticket_numbers_are_read_leniently(text):
    assert parse_number("SUP", text) == 12


@pytest.mark.parametrize("text", ["SUP-", "ABC-12", "SUP-x", "0", "-3", ""])
def test_malformed_ticket_numbers_are_the_callers_mistake(text):
    with pytest.raises(UserError, match="not a ticket number like SUP-1042"):
        parse_number("SUP", text)
