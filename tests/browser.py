"""Headless Chromium for the dashboard tests and ``make screenshot``.

Debian's ``chromium`` and ``chromium-driver`` packages (``.ci/run`` installs them); nothing is
downloaded at run time, and the browser runs with a fresh profile and its background
networking off.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic")


def missing_binary() -> str | None:
    """The first of Chromium and chromedriver that is not installed, if any."""
    return next((path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)), None)


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[webdriver.Chrome]:
    """A headless Chromium whose viewport is ``width`` × ``height`` CSS pixels."""
    with tempfile.TemporaryDirectory(prefix="evolink-chromium-") as profile:
        options = Options()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            # The window size includes the browser's own frame: grow it by the difference.
            inner = driver.execute_script("return [innerWidth, innerHeight]")
            driver.set_window_size(2 * width - inner[0], 2 * height - inner[1])
            yield driver
        finally:
            driver.quit()
