"""Every rendered report opens in headless Chromium with no console error, every image
rendered (naturalWidth > 0) and no script run; a full-page PNG screenshot is saved.

Skipped, with the command that enables it, where Chromium or chromedriver is not installed.
Screenshots go to ``$CS_SCREENSHOTS`` (default: pytest's temporary folder ``screenshots``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import browser
from tests.report_fixtures import REPORT_NAMES, rendered

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not browser.available(), reason=f"no headless Chromium: {browser.HOW_TO}"),
]


@pytest.fixture(scope="module")
def driver():
    d = browser.open_browser()
    yield d
    browser.close_browser(d)


@pytest.fixture(scope="session")
def out(tmp_path_factory, demo_small_dir) -> Path:
    return rendered(tmp_path_factory.getbasetemp() / "reports_e2e", demo_small_dir)


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    return Path(os.environ.get("CS_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))


@pytest.mark.parametrize("name", [*REPORT_NAMES, "index"])
def test_report_loads_cleanly_in_chromium(driver, out, shots, name):
    html = out / "index.html" if name == "index" else out / "2025-12-31" / f"{name}.html"
    png = shots / f"{name}.png"
    r = browser.inspect(driver, html, png)
    assert r["alert"] is None, "a script ran: " + str(r["alert"])
    assert r["errors"] == [], r["errors"]
    bad = [alt for alt, complete, width in r["images"] if not complete or not width]
    assert bad == [], f"images not rendered: {bad}"
    if name != "index":
        assert len(r["images"]) >= 1 and r["title"]
    assert png.exists() and png.stat().st_size > 10_000
