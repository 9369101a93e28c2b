"""The Jinja2 environment over ``templates/``: every message the bot sends is rendered here.

``StrictUndefined`` turns a typo in a template into an error at render time
(which the outbox retries and then parks as dead) instead of an email with a
blank where the ticket number should be. HTML templates are autoescaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape


def default_templates_dir() -> Path:
    """The shipped templates: beside the package when installed, at the repo root in a checkout."""
    package = Path(__file__).resolve().parents[1]  # bot/, where the wheel puts them (pyproject)
    packaged = package / "_templates"
    return packaged if packaged.is_dir() else package.parent / "templates"


class Renderer:
    def __init__(self, overrides: Sequence[Path] = ()) -> None:
        """Folders in ``overrides`` win over the shipped templates, name by name."""
        search = [str(path) for path in overrides] + [str(default_templates_dir())]
        self.environment = Environment(
            loader=FileSystemLoader(search),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html.j2", "html"), default=False),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        return self.environment.get_template(name).render(context)

    def has(self, name: str) -> bool:
        try:
            self.environment.get_template(name)
        except TemplateNotFound:
            return False
        return True
