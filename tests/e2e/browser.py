"""A real headless Chromium (Debian's ``chromium`` package) driven by Playwright for Python.

Playwright is pointed at ``/usr/bin/chromium``: no browser is ever downloaded. One
browser per test process; each person gets a context of their own (their own cookies).
Screenshots go to the test's folder, and also to ``$SUPPORTBOT_SCREENSHOTS`` when it
names a folder (how the README's images in ``docs/screenshots`` are made).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

CHROMIUM = Path(os.environ.get("SUPPORTBOT_CHROMIUM", "/usr/bin/chromium"))


# Module-scoped, not session-scoped: Playwright's sync API keeps an event loop running in
# this thread while it is open, and later tests in the same process call asyncio.run().
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (make test does)")
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (make test does)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        # --no-sandbox: tests run as root on CI, where Chromium's sandbox refuses to start.
        args=["--no-sandbox", "--disable-dev-shm-usage"],
    )
    yield browser
    browser.close()


def screenshot(page: Page, folder: Path, name: str, *, whole: bool = False) -> Path:
    """Saved beside the test's files, and kept in ``$SUPPORTBOT_SCREENSHOTS`` if set;
    ``whole``: the whole page, not only what the window shows."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=whole)
    keep = os.environ.get("SUPPORTBOT_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(keep) / path.name)
    assert path.stat().st_size > 5_000, f"screenshot {name} is nearly empty"
    return path
