"""The group commit's outcomes per caller (bot/desk/group_commit.py), with plain functions as
the writes: a batch forms behind a first write that is held, as behind a busy database."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from bot.desk.group_commit import GroupCommit
from bot.errors import StoreConflict, StoreUnavailable
from tests.waiting import wait_until


class Writes:
    """Records how items were written; the first write alone waits until ``release``."""

    def __init__(self, failure: Exception | None = None) -> None:
        self.failure = failure
        self.release = threading.Event()
        self.batches: list[list[int]] = []
        self.alone: list[int] = []

    def together(self, items: Sequence[int]) -> list[str]:
        self.batches.append(list(items))
        if self.failure is not None:
            raise self.failure
        return [f"batch {item}" for item in items]

    def one(self, item: int) -> str:
        if not self.alone:
            self.release.wait(10)
        self.alone.append(item)
        return f"alone {item}"


def run(writes: Writes, items: list[int]) -> dict[int, object]:
    group: GroupCommit[int, str] = GroupCommit(writes.together, writes.one, limit=8)
    outcomes: dict[int, object] = {}

    def submit(item: int) -> None:
        try:
            outcomes[item] = group.submit(item)
        except Exception as error:  # noqa: BLE001 - the test looks at it
            outcomes[item] = error

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    wait_until(lambda: group.writing, what="the first write")
    rest = [threading.Thread(target=submit, args=(item,)) for item in items]
    for thread in rest:
        thread.start()
    wait_until(lambda: group.queued == len(items), what="the others queued")
    writes.release.set()
    for thread in [first, *rest]:
        thread.join(10)
    return outcomes


def test_callers_queued_behind_a_write_are_written_in_one_batch() -> None:
    writes = Writes()
    outcomes = run(writes, [1, 2, 3])
    assert writes.batches == [[1, 2, 3]]
    assert outcomes == {0: "alone 0", 1: "batch 1", 2: "batch 2", 3: "batch 3"}


@pytest.mark.parametrize("failure", [StoreConflict("deadlock detected"), ValueError("bad data")])
def test_a_batch_given_up_is_written_again_one_by_one(failure: Exception) -> None:
    """A conflict with another worker's transaction is no outage: each message may pass alone."""
    writes = Writes(failure)
    outcomes = run(writes, [1, 2, 3])
    assert writes.batches == [[1, 2, 3]]
    assert sorted(writes.alone) == [0, 1, 2, 3]
    assert outcomes == {0: "alone 0", 1: "alone 1", 2: "alone 2", 3: "alone 3"}


def test_an_outage_fails_every_caller_of_the_batch() -> None:
    writes = Writes(StoreUnavailable("connection refused"))
    outcomes = run(writes, [1, 2, 3])
    assert writes.alone == [0]
    assert all(isinstance(outcomes[item], StoreUnavailable) for item in (1, 2, 3))
