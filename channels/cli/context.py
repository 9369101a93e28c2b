"""What every command shares: settings and the runtime, built lazily once per call."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from tabulate import tabulate

from bot.config.settings import Settings
from bot.views import to_jsonable
from channels.bootstrap import Runtime, build, configure_logging, load_settings
from channels.cli.terminal import echo


class CliState:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = Path(config_path) if config_path else None
        # The one place the process environment is read; everything below gets this mapping.
        self.environ: dict[str, str] = dict(os.environ)
        self.serving = False
        self._settings: Settings | None = None
        self._runtime: Runtime | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path, self.environ)
            # Commands print their own results; only warnings and errors go to the log.
            level = self._settings.logging.level
            configure_logging("WARNING" if level == "INFO" and not self.serving else level)
        return self._settings

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = build(self.settings, environ=self.environ)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.store.dispose()


pass_state = click.make_pass_decorator(CliState)

format_option = click.option(
    "--format",
    "output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people, json for scripts.",
)


as_option = click.option(
    "--as",
    "as_email",
    metavar="EMAIL",
    default=None,
    help="Act as this person (recorded in the audit log); default: the console.",
)


def emit_json(value: Any) -> None:
    echo(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False))


def emit_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], empty: str) -> None:
    if not rows:
        echo(empty)
        return
    echo(tabulate([[_cell(row.get(c)) for c in columns] for row in rows], headers=list(columns)))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    if hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%d %H:%M"))
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
