import pytest

from bot.errors import UserError
from bot.model import FieldType
from bot.people.fields import check_definition, validate_value

CHOICES = {"choices": ["mac", "windows", "linux"]}


def test_text_respects_length_and_pattern():
    options = {"max_length": 8, "pattern": r"[A-Z]{3}-\d+"}
    assert validate_value("asset", FieldType.TEXT, options, "ABC-12") == "ABC-12"
    with pytest.raises(UserError, match="asset: at most 8"):
        validate_value("asset", FieldType.TEXT, options, "ABC-123456")
    with pytest.raises(UserError, match="does not match"):
        validate_value("asset", FieldType.TEXT, options, "abc")


def test_number_parses_text_and_checks_bounds():
    options = {"min": 1, "max": 10}
    assert validate_value("seats", FieldType.NUMBER, options, "3") == 3
    assert validate_value("seats", FieldType.NUMBER, options, "2.5") == 2.5
    with pytest.raises(UserError, match="at least 1"):
        validate_value("seats", FieldType.NUMBER, options, 0)
    with pytest.raises(UserError, match="at most 10"):
        validate_value("seats", FieldType.NUMBER, options, "11")
    with pytest.raises(UserError, match="not a number"):
        validate_value("seats", FieldType.NUMBER, options, "many")
    with pytest.raises(UserError, match="expected a number"):
        validate_value("seats", FieldType.NUMBER, options, True)


def test_date_must_be_iso():
    assert validate_value("due", FieldType.DATE, {}, "2026-11-23") == "2026-11-23"
    with pytest.raises(UserError, match="not a date"):
        validate_value("due", FieldType.DATE, {}, "23/11/2026")


def test_dropdown_takes_one_known_choice():
    assert validate_value("os", FieldType.DROPDOWN, CHOICES, "mac") == "mac"
    with pytest.raises(UserError, match="'bsd' is not one of mac, windows, linux"):
        validate_value("os", FieldType.DROPDOWN, CHOICES, "bsd")


def test_multiple_choice_takes_a_list_or_comma_text_in_definition_order():
    assert validate_value("os", FieldType.MULTIPLE_CHOICE, CHOICES, "linux, mac") == ["mac", "linux"]
    assert validate_value("os", FieldType.MULTIPLE_CHOICE, CHOICES, ["windows"]) == ["windows"]
    with pytest.raises(UserError, match="bsd not among"):
        validate_value("os", FieldType.MULTIPLE_CHOICE, CHOICES, "mac,bsd")
    with pytest.raises(UserError, match="choose one or more"):
        validate_value("os", FieldType.MULTIPLE_CHOICE, CHOICES, "")


def test_definitions_that_could_never_hold_a_value_are_refused():
    with pytest.raises(UserError, match="non-empty list of choices"):
        check_definition(FieldType.DROPDOWN, {})
    with pytest.raises(UserError, match="must not repeat"):
        check_definition(FieldType.MULTIPLE_CHOICE, {"choices": ["a", "a"]})
    with pytest.raises(UserError, match="min must not be greater"):
        check_definition(FieldType.NUMBER, {"min": 5, "max": 1})
    with pytest.raises(UserError, match="regular expression"):
        check_definition(FieldType.TEXT, {"pattern": "("})
