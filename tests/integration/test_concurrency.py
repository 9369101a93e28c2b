"""Several processes on one database: every ticket gets its own number."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.store import tables as t

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_processes_creating_500_tickets_each_get_1000_distinct_numbers(settings, store, tmp_path):
    go = tmp_path / "go"
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.create_tickets",
                settings.database_url,
                str(tmp_path / f"data{n}"),
                "500",
                "8",
                str(go),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    go.touch()
    numbers: list[str] = []
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        numbers += out.split()
    assert len(numbers) == 1000
    assert len(set(numbers)) == 1000
    with store.read() as session:
        assert session.scalar(select(func.count()).select_from(t.Ticket)) == 1000
        inbound = select(func.count(func.distinct(t.ThreadRef.external_id))).where(
            t.ThreadRef.direction == "in"
        )
        assert session.scalar(inbound) == 1000
