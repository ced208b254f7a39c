"""A headless chromium (Debian's, through its chromedriver) against the real local server, offline.

``make test`` installs ``chromium`` and ``chromium-driver`` (Makefile ``browser-deps``); without them the
tests skip and say so. The browser may resolve no host but 127.0.0.1 (``--host-resolver-rules``) and
every request the page makes is read back from the performance log, so a test can assert that nothing
left the machine.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import PROJECT_ROOT
from tests.e2e.conftest import API_KEY, Server, free_port, start_server

#: Where the screenshots go (a CI artefact; git-ignored).
ARTIFACTS = PROJECT_ROOT / "artifacts" / "browser"

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``tonearm serve`` on a free port with a fresh data folder (its own, apart from tests/e2e's)."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("browser-server")
    process = start_server(port, data_dir, api_key=API_KEY, log_path=data_dir / "server.log")
    yield Server(base_url=f"http://127.0.0.1:{port}", data_dir=data_dir, process=process)
    process.terminate()
    process.wait(timeout=20)


class Browser:
    """A chromium session and the URLs its pages requested."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def requested_urls(self) -> list[str]:
        """Every URL a page asked for since the last call (Network.requestWillBeSent)."""
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def offsite(self, urls: list[str]) -> list[str]:
        """The URLs that would leave 127.0.0.1 (data: and blob: URLs never do)."""
        local = ("data", "blob")
        return [u for u in urls if urlsplit(u).scheme not in local and urlsplit(u).hostname != "127.0.0.1"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless chromium, 1280 px wide, that can reach 127.0.0.1 only."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip(
            "chromium and chromedriver are not installed: `make test` installs them (apt packages "
            "chromium, chromium-driver), or set CHROMIUM and CHROMEDRIVER"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI containers run as root
        "--disable-dev-shm-usage",
        "--window-size=1280,1700",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--no-proxy-server",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--no-first-run",
        "--autoplay-policy=no-user-gesture-required",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    # the driver's path is given: Selenium Manager (which would go online) is never asked
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield Browser(driver)
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The screenshot folder."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
