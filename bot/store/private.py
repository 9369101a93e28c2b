"""Owner-only folders and files for what the data folder holds, and a check of existing ones.

The data folder keeps the SQLite database (sharing access keys, webhook secrets,
every ticket), the reply-address secret, attachments and outgoing mail. Under a
usual umask (022) ``mkdir`` and ``sqlite3`` would make them readable by every
local user, so they are created 0700 (folders) and 0600 (files) from the start,
with no change of the process-wide umask. What was made before, or by hand, is
left as it is but named in a warning at start-up.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

FOLDER_MODE = 0o700
FILE_MODE = 0o600
# What SQLite writes beside the database; it gives them the database file's own mode.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def make_private_folder(path: Path) -> None:
    """``path`` and any missing folder above it, each 0700; existing ones are left alone."""
    missing: list[Path] = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:  # made at the same moment by another process or thread
            continue
        # mkdir's mode passes through the umask; one of 0o077 or wider must not add bits,
        # one that takes the owner's bits away must not leave a folder we cannot use.
        os.chmod(folder, FOLDER_MODE)


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty with mode 0600 if it does not exist; True when it was created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return True


def sqlite_files(database: Path) -> list[Path]:
    """The database file and the companions SQLite keeps beside it."""
    return [database, *(database.with_name(database.name + suffix) for suffix in SQLITE_COMPANIONS)]


def too_open(paths: Iterable[Path]) -> list[tuple[Path, int]]:
    """Those of ``paths`` that exist and that the group or others may read, write or enter."""
    found: list[tuple[Path, int]] = []
    for path in paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            found.append((path, mode))
    return found


def warn_if_open(paths: Iterable[Path]) -> list[tuple[Path, int]]:
    """One warning per path that others than its owner may reach; what was found."""
    found = too_open(paths)
    for path, mode in found:
        wanted = FOLDER_MODE if path.is_dir() else FILE_MODE
        logger.warning(
            "%s has mode %04o: it holds secrets (access keys, webhook and reply secrets, mail); "
            "only its owner should reach it (chmod %o %s)",
            path,
            mode,
            wanted,
            path,
        )
    return found
