"""Content-addressed attachment files under the data folder.

A file is named by the SHA-256 of its bytes, so the same logo in fifty replies
is one file, and writing it twice (a retried message) changes nothing.
Files are written before the database transaction; a rolled-back transaction
leaves at most an unreferenced file, never a row without its file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from bot.store.private import make_private_folder


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_for(digest)
        if not target.exists():
            write_atomically(target, data)
        return digest

    def get(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()


def write_atomically(target: Path, data: bytes) -> None:
    """Readers see the whole file or none of it, even if we are killed half-way. The file is
    0600 (mkstemp's mode) in folders made 0700: attachments and outgoing mail are private."""
    make_private_folder(target.parent)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
