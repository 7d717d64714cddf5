"""Self-test of the headless-browser helper (tests/support/browser.py) on two small pages."""

from __future__ import annotations

import pytest

from support import browser

DRAWING = """<!doctype html>
<html><body>
<svg width="300" height="200"><circle cx="150" cy="100" r="80" fill="teal"/></svg>
<canvas id="c" width="300" height="200"></canvas>
<script>
  const context = document.getElementById("c").getContext("2d");
  context.fillStyle = "crimson";
  context.fillRect(50, 50, 200, 100);
</script>
</body></html>
"""

# Nothing visible, so the same page checks that is_blank recognises a blank screenshot.
FAILING = """<!doctype html>
<html><body><script>console.error("boom");</script></body></html>
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    path = browser.ensure_chromium()
    if path is None:
        pytest.skip(browser.unavailable_reason())
    return path


def test_drawing_renders_without_console_errors(chromium, tmp_path):
    page = tmp_path / "drawing.html"
    page.write_text(DRAWING, encoding="utf-8")
    errors = browser.screenshot(page, tmp_path / "drawing.png", width=800, height=600, wait_ms=200)
    assert errors == []
    assert not browser.is_blank(tmp_path / "drawing.png")


def test_console_error_is_reported(chromium, tmp_path):
    page = tmp_path / "failing.html"
    page.write_text(FAILING, encoding="utf-8")
    errors = browser.screenshot(page, tmp_path / "failing.png", width=800, height=600, wait_ms=200)
    assert errors == ["boom"]
    assert browser.is_blank(tmp_path / "failing.png")
