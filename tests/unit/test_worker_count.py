"""How many ``serve`` workers the settings ask for (bot/config/settings.py ServeSettings)."""

from __future__ import annotations

from bot.config.settings import ServeSettings, load


def test_sqlite_takes_one_worker_whatever_the_cpus() -> None:
    assert ServeSettings().worker_count("sqlite", 16) == 1


def test_postgresql_takes_a_worker_per_cpu_up_to_eight() -> None:
    assert ServeSettings().worker_count("postgresql", 2) == 2
    assert ServeSettings().worker_count("postgresql", 64) == 8
    assert ServeSettings().worker_count("postgresql", None) == 1


def test_a_count_that_is_set_is_taken_as_it_is() -> None:
    assert ServeSettings(workers=3).worker_count("sqlite", 2) == 3
    assert load(None, {"SUPPORTBOT_SERVE_WORKERS": "4"}).serve.worker_count("postgresql", 2) == 4
