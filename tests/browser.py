"""Open rendered reports in headless Chromium (selenium): console errors, images, screenshots.

Used by tests/test_browser.py and by hand::

    .venv/bin/python tests/browser.py reports/2025-12-31/*.html --out reports/_screenshots
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)
DRIVER = shutil.which("chromedriver")
HOW_TO = "install Chromium to run it: apt-get update && apt-get install -y chromium chromium-driver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,2000"]

IMAGES_JS = """
return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth]);
"""
HEIGHT_JS = "return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight);"


def available() -> bool:
    return CHROMIUM is not None and DRIVER is not None


def open_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for f in FLAGS + [f"--user-data-dir={profile}"]:
        opts.add_argument(f)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver._profile_dir = profile  # removed in close_browser
    return driver


def close_browser(driver) -> None:
    profile = getattr(driver, "_profile_dir", None)
    driver.quit()
    if profile:
        shutil.rmtree(profile, ignore_errors=True)


def inspect(driver, html: Path, png: Path | None = None, full_page: bool = True) -> dict:
    """Load ``html``; return console errors, images [(alt, complete, naturalWidth)], alerts."""
    from selenium.common.exceptions import NoAlertPresentException

    driver.get(Path(html).resolve().as_uri())
    alert = None
    try:
        alert = driver.switch_to.alert.text
    except NoAlertPresentException:
        pass
    logs = driver.get_log("browser")
    errors = [e for e in logs if e.get("level") == "SEVERE"]
    images = driver.execute_script(IMAGES_JS)
    if png is not None:
        png.parent.mkdir(parents=True, exist_ok=True)
        if full_page:
            h = min(int(driver.execute_script(HEIGHT_JS)), 16000)
            driver.set_window_size(1280, max(h, 800))
        driver.save_screenshot(str(png))
        driver.set_window_size(1280, 2000)
    return {"errors": errors, "images": images, "alert": alert, "title": driver.title}


if __name__ == "__main__":  # pragma: no cover - manual use
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("html", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("reports/_screenshots"))
    a = ap.parse_args()
    if not available():
        sys.exit(HOW_TO)
    d = open_browser()
    try:
        for h in a.html:
            r = inspect(d, h, a.out / (h.stem + ".png"))
            print(h, "errors:", r["errors"], "images:", len(r["images"]), "bad:",
                  [i for i in r["images"] if not i[2]], "alert:", r["alert"])
    finally:
        close_browser(d)
