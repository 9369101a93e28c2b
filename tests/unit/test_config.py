import dataclasses
from pathlib import Path
from typing import get_args, get_type_hints

import pytest

from bot.config.settings import Settings, environment_names, load, secret_options
from bot.errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "supportbot.toml"


def test_shipped_file_states_exactly_the_embedded_defaults():
    """config/supportbot.toml documents every option; it must not drift from the code."""
    assert load(SHIPPED, {}) == Settings()


def test_shipped_file_lists_every_option():
    text = SHIPPED.read_text()
    for field in dataclasses.fields(Settings):
        value = getattr(Settings(), field.name)
        if dataclasses.is_dataclass(value):
            assert f"[{field.name}]" in text
            for inner in dataclasses.fields(value):
                nested = getattr(value, inner.name)
                if dataclasses.is_dataclass(nested):  # [web.oidc]
                    assert f"[{field.name}.{inner.name}]" in text
                    for leaf in dataclasses.fields(nested):
                        assert f"\n{leaf.name} = " in text, f"[{field.name}.{inner.name}] {leaf.name} missing"
                    continue
                assert f"\n{inner.name} = " in text, f"[{field.name}] {inner.name} missing"
        elif isinstance(value, tuple):
            assert f"[[{field.name}]]" in text, f"[[{field.name}]] missing"
            for inner in dataclasses.fields(get_args(get_type_hints(Settings)[field.name])[0]):
                assert f"{inner.name} = " in text, f"[[{field.name}]] {inner.name} missing"
        elif field.name != "status_transitions":
            assert f"\n{field.name} = " in text, f"{field.name} missing"


def test_embedded_defaults_match_the_product_brief():
    settings = load(None, {})
    assert settings.enable_email_notifications is True
    assert settings.default_priority == "medium"
    assert settings.ticket_expiration_days == 7
    assert settings.status_transitions == {}
    assert settings.enable_escalation is True
    assert settings.audit_log_interval == 1
    assert settings.ticket_prefix == "SUP"
    assert (settings.http.host, settings.http.port) == ("127.0.0.1", 8080)
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith(
        "data/supportbot.db"
    )


def test_environment_overrides_file_and_defaults(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('ticket_prefix = "HELP"\n[http]\nport = 9000\n')
    settings = load(
        path,
        {
            "SUPPORTBOT_HTTP_PORT": "9100",
            "SUPPORTBOT_DATABASE_URL": "postgresql://db/x",
            "SUPPORTBOT_DATA_DIR": "/srv/sb",
            "SUPPORTBOT_ENABLE_EMAIL_NOTIFICATIONS": "false",
            "SUPPORTBOT_STATUS_TRANSITIONS": '{"open": ["closed"]}',
        },
    )
    assert settings.ticket_prefix == "HELP"
    assert settings.http.port == 9100
    assert settings.database_url == "postgresql://db/x"
    assert settings.data_dir == "/srv/sb"
    assert settings.enable_email_notifications is False
    assert settings.status_transitions == {"open": ["closed"]}


def test_every_option_has_an_environment_name():
    names = environment_names()
    assert {"SUPPORTBOT_DATABASE_URL", "SUPPORTBOT_HTTP_PORT", "SUPPORTBOT_DATA_DIR"} <= set(names)
    assert "SUPPORTBOT_OUTBOX_MAX_ATTEMPTS" in names
    assert "SUPPORTBOT_WEB_OIDC_CLIENT_SECRET" in names


def test_a_nested_section_takes_its_options_from_the_environment_and_keeps_secrets_secret():
    settings = load(
        None,
        {
            "SUPPORTBOT_WEB_OIDC_ISSUER": "https://id.example.com",
            "SUPPORTBOT_WEB_OIDC_CLIENT_ID": "desk",
            "SUPPORTBOT_WEB_OIDC_CLIENT_SECRET": "s3cret",
        },
    )
    assert settings.web.oidc.enabled and settings.web.oidc.client_secret == "s3cret"
    assert "web.oidc.client_secret" in secret_options()
    assert "s3cret" not in repr(settings)


def test_sso_without_its_client_secret_stops_start_up():
    with pytest.raises(ConfigError, match="SUPPORTBOT_WEB_OIDC_CLIENT_SECRET"):
        load(
            None,
            {"SUPPORTBOT_WEB_OIDC_ISSUER": "https://id.example.com", "SUPPORTBOT_WEB_OIDC_CLIENT_ID": "x"},
        )


def test_critical_is_a_valid_default_priority():
    assert load(None, {"SUPPORTBOT_DEFAULT_PRIORITY": "critical"}).default_priority == "critical"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SUPPORTBOT_HTTP_PORT": "eighty"}, "SUPPORTBOT_HTTP_PORT must be a whole number"),
        ({"SUPPORTBOT_DEFAULT_PRIORITY": "asap"}, "default_priority = 'asap' is not valid; use one of: low"),
        ({"SUPPORTBOT_ENABLE_ESCALATION": "maybe"}, "SUPPORTBOT_ENABLE_ESCALATION must be true or false"),
        ({"SUPPORTBOT_TICKET_EXPIRATION_DAYS": "0"}, "ticket_expiration_days must be at least 1"),
        ({"SUPPORTBOT_ROUTING_ASSIGNMENT": "random"}, "round_robin, least_loaded, none"),
        ({"SUPPORTBOT_STATUS_TRANSITIONS": "open"}, "must be JSON"),
        ({"SUPPORTBOT_STATUS_TRANSITIONS": '{"open": ["done"]}'}, "unknown status done; statuses are: open"),
        ({"SUPPORTBOT_HTTP_PORT": "70000"}, "http.port must be at most 65535"),
        ({"SUPPORTBOT_DATABASE_URL": "garbage"}, "database.url is not a database URL"),
        ({"SUPPORTBOT_DATABASE_URL": "mysql://db/x"}, "database.url: mysql is not supported"),
        ({"SUPPORTBOT_EMAIL_FROM_ADDRESS": "support"}, "email.from_address = 'support'"),
        ({"SUPPORTBOT_TICKET_PREFIX": "A B"}, "ticket_prefix = 'A B': use 1 to 16 letters"),
        ({"SUPPORTBOT_MAILBOXES": '[{"address": "support+x@example.com"}]'}, r"mailboxes\[0\].address"),
        (
            {"SUPPORTBOT_MAILBOXES": '[{"address": "a@x.test", "priority": "now"}]'},
            r"mailboxes\[0\].priority",
        ),
        ({"SUPPORTBOT_MAILBOXES": '[{"address": "a@x.test"}, {"address": "A@x.test"}]'}, "listed once"),
        ({"SUPPORTBOT_MAILBOXES": '{"address": "a@x.test"}'}, "must be a list of tables"),
        ({"SUPPORTBOT_SMTP_PORT": "-1"}, "smtp.port must be at least 0"),
    ],
)
def test_invalid_environment_values_name_the_option_and_accepted_values(environ, message):
    with pytest.raises(ConfigError, match=message):
        load(None, environ)


def test_unknown_option_in_a_file_is_refused_with_the_known_ones(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[http]\nprot = 1\n")
    with pytest.raises(
        ConfigError, match=r"unknown option\(s\) prot in \[http\]; known: enabled, host, port"
    ):
        load(path, {})


def test_wrong_type_in_a_file_is_refused(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[outbox]\nmax_attempts = "ten"\n')
    with pytest.raises(ConfigError, match="outbox.max_attempts must be a whole number"):
        load(path, {})


def test_missing_or_broken_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.toml", {})
    broken = tmp_path / "broken.toml"
    broken.write_text("[http\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(broken, {})


def test_mailboxes_come_from_toml_tables(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        '[[mailboxes]]\naddress = "support@example.com"\n\n'
        '[[mailboxes]]\naddress = "billing@example.com"\nteam = "Billing"\n'
    )
    boxes = load(path, {}).mailboxes
    assert [(b.address, b.team) for b in boxes] == [
        ("support@example.com", ""),
        ("billing@example.com", "Billing"),
    ]


def test_slack_is_off_without_a_bot_token_and_on_with_token_and_signing_secret():
    assert not load(None, {}).slack.enabled
    on = load(None, {"SUPPORTBOT_SLACK_BOT_TOKEN": "xoxb-1", "SUPPORTBOT_SLACK_SIGNING_SECRET": "s"})
    assert on.slack.enabled and on.slack.api_url == "https://slack.com/api/"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SUPPORTBOT_SLACK_SIGNING_SECRET": "s"}, "slack.bot_token"),
        ({"SUPPORTBOT_SLACK_BOT_TOKEN": "xoxb-1"}, "SUPPORTBOT_SLACK_SIGNING_SECRET"),
        (
            {"SUPPORTBOT_SLACK_BOT_TOKEN": "xoxb-1", "SUPPORTBOT_SLACK_SOCKET_MODE": "true"},
            "SUPPORTBOT_SLACK_APP_TOKEN",
        ),
        (
            {
                "SUPPORTBOT_SLACK_BOT_TOKEN": "xoxb-1",
                "SUPPORTBOT_SLACK_SIGNING_SECRET": "s",
                "SUPPORTBOT_SLACK_SUPPORT_CHANNEL": "#support",
            },
            "channel id",
        ),
        (
            {
                "SUPPORTBOT_SLACK_BOT_TOKEN": "xoxb-1",
                "SUPPORTBOT_SLACK_SIGNING_SECRET": "s",
                "SUPPORTBOT_SLACK_API_URL": "slack.example",
            },
            "slack.api_url",
        ),
    ],
)
def test_half_configured_slack_is_refused_naming_what_is_missing(environ, message):
    with pytest.raises(ConfigError, match=message):
        load(None, environ)


def test_secrets_are_known_so_they_can_be_masked():
    assert set(secret_options()) >= {
        "email.reply_secret",
        "slack.bot_token",
        "slack.signing_secret",
        "slack.app_token",
    }
