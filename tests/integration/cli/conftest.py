"""Fixtures for the command-line tests: a CLI bound to this test's store, and a first ticket."""

from __future__ import annotations

import pytest

from tests.integration.cli.support import AGENT, Cli, create


@pytest.fixture
def cli(environ: dict[str, str]) -> Cli:
    return Cli(environ)


@pytest.fixture
def ticket(cli: Cli) -> str:
    """SUP-1 from a customer, with an agent in team Ops ready to be assigned."""
    cli.ok("teams", "add", "Ops")
    cli.ok("people", "add", "--email", AGENT, "--name", "Ann Agent", "--role", "agent", "--team", "Ops")
    created = create(cli, "Printer on fire", description="Floor 3, again.")
    return str(created["number"])
