"""The README's pictures of the web app are the ones ``make screenshots`` takes: each
``docs/screenshots/<name>.png`` it shows is saved by a ``screenshot(page, "<name>")`` of a
browser test the target runs, each one taken is shown, and no other is committed. Text only:
no stack, no browser."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHOWN = re.compile(r"docs/screenshots/([\w-]+)\.png")
TAKEN = re.compile(r"""\bscreenshot\(\s*page\s*,\s*["']([\w-]+)["']\s*\)""")
TARGET_TESTS = re.compile(r"^SCREENSHOT_TESTS\s*:=\s*(\S+)\s*$", re.MULTILINE)


def taken_by_make_screenshots() -> set[str]:
    match = TARGET_TESTS.search((REPO / "Makefile").read_text())
    assert match is not None, "the Makefile names no SCREENSHOT_TESTS"
    tests = sorted(REPO.glob(match.group(1)))
    assert tests, f"{match.group(1)} matches no test file"
    return {name for test in tests for name in TAKEN.findall(test.read_text())}


def test_the_readme_shows_every_screenshot_the_target_takes_and_no_other() -> None:
    shown = set(SHOWN.findall((REPO / "README.md").read_text()))

    assert {"login", "runs", "run", "launch", "tokens", "members"} <= shown
    assert shown == taken_by_make_screenshots()


def test_docs_screenshots_holds_only_the_pictures_the_readme_shows() -> None:
    """A picture the README no longer shows is dead weight in every clone."""
    kept = {path.stem for path in (REPO / "docs" / "screenshots").glob("*.png")}

    assert kept == set(SHOWN.findall((REPO / "README.md").read_text()))
