"""Group commit: messages that arrive at once are written in one transaction.

A transaction's fixed costs (``BEGIN``, the rules' version check, ``COMMIT``
with its WAL flush) are paid per transaction, not per message; on
PostgreSQL the commit's round trip and flush are the ceiling of one writer.
When several SMTP sessions, IMAP pollers or Slack events call ``receive``
together, the first caller becomes the leader: it takes every message
waiting (up to ``limit``), writes them in one transaction and commits; the
others sleep until their message's outcome is known. Nobody waits for a
batch to fill: a caller alone is written alone at once, so a quiet desk
pays nothing and a busy one batches as much as arrives while the previous
commit runs.

Each caller still gets its own outcome, and only after the commit that holds
its message (so SMTP's ``250`` still means stored):

* The batch commits: every caller gets its receipt.
* The store is unreachable (:class:`~bot.errors.StoreUnavailable`): every
  caller gets that error (SMTP answers ``451``; nothing of the batch is stored).
  A batch that the database gave up because it met another transaction (a
  deadlock between workers, :class:`~bot.errors.StoreConflict`) is not an
  outage: it goes the way of the next case.
* Any other error: the batch is rolled back and every message is written
  again in its own transaction by its own caller, so a message that fails on
  its own data fails alone and its neighbours are stored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from bot.errors import StoreConflict, StoreUnavailable

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Slot(Generic[Item, Result]):
    __slots__ = ("item", "done", "result", "error", "alone")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.done = False
        self.result: Result | None = None
        self.error: BaseException | None = None
        self.alone = False  # its batch failed on something other than an outage: write it by itself


class GroupCommit(Generic[Item, Result]):
    """``together`` writes several items in one transaction, answering in their order;
    ``alone`` writes one in its own (and handles what only one message can meet, such
    as losing a race on its key). ``limit`` 1 turns grouping off."""

    def __init__(
        self,
        together: Callable[[Sequence[Item]], list[Result]],
        alone: Callable[[Item], Result],
        *,
        limit: int,
    ) -> None:
        self._together = together
        self._alone = alone
        self.limit = max(1, limit)
        self._changed = threading.Condition()  # guards everything below
        self._waiting: list[_Slot[Item, Result]] = []
        self._leading = False
        # Transactions and the messages they held, for the benchmark's and tests' eyes.
        self.batches = 0
        self.grouped = 0

    @property
    def queued(self) -> int:
        """Messages waiting for the writer now (a health figure; tests wait on it)."""
        with self._changed:
            return len(self._waiting)

    @property
    def writing(self) -> bool:
        """Whether a caller is writing a transaction now."""
        with self._changed:
            return self._leading

    def submit(self, item: Item) -> Result:
        """Blocking: ``item``'s outcome once the transaction that holds it has committed."""
        if self.limit == 1:
            return self._alone(item)
        slot: _Slot[Item, Result] = _Slot(item)
        with self._changed:
            self._waiting.append(slot)
        while True:
            with self._changed:
                while self._leading and not slot.done:
                    self._changed.wait()
                if slot.done:
                    break
                self._leading = True
                batch, self._waiting = self._waiting[: self.limit], self._waiting[self.limit :]
            try:
                self._write(batch)
            finally:
                with self._changed:
                    self._leading = False
                    self._changed.notify_all()
        if slot.alone:
            return self._alone(item)
        if slot.error is not None:
            raise slot.error
        assert slot.result is not None
        return slot.result

    def _write(self, batch: list[_Slot[Item, Result]]) -> None:
        """Runs on the leader's thread; never raises: each slot is given its outcome."""
        try:
            if len(batch) == 1:  # the plain path: its own transaction, its own race handling
                self._write_alone(batch[0])
            else:
                self._write_together(batch)
        finally:
            for slot in batch:
                # Not written (an error no caller was given): its caller writes it alone.
                if slot.result is None and slot.error is None:
                    slot.alone = True
                slot.done = True

    def _write_alone(self, slot: _Slot[Item, Result]) -> None:
        try:
            slot.result = self._alone(slot.item)
        except Exception as error:  # noqa: BLE001 - handed to its caller, who raises it
            slot.error = error

    def _write_together(self, batch: list[_Slot[Item, Result]]) -> None:
        try:
            results = self._together([slot.item for slot in batch])
        except StoreConflict as error:  # met another transaction's locks: alone, each may pass
            logger.info(
                "a batch of %d messages met a conflict (%s): each is written alone", len(batch), error
            )
        except StoreUnavailable as error:
            for slot in batch:
                slot.error = error
        except Exception as error:  # noqa: BLE001 - each message is tried again alone, and meets it there
            logger.info("a batch of %d messages failed (%s): each is written alone", len(batch), error)
        else:
            self.batches += 1
            self.grouped += len(batch)
            for slot, result in zip(batch, results, strict=True):
                slot.result = result
