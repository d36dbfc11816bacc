"""Browser tests: Playwright driving Debian's chromium, headless, against the app served over
HTTP on 127.0.0.1.

The browser is the system's /usr/bin/chromium (Debian's package `chromium`), never one that
Playwright downloads: `playwright install` is not run anywhere. When it or the CJK font
(fonts-wqy-microhei) is missing and we are root on a machine with apt-get, the session installs
the packages once (apt-get's output goes to a log file under pytest's temporary folder); if
chromium is still missing, every browser test is skipped with the reason.

Screenshots are written as PNG files to $IVR_TEST_ARTEFACTS when set, else to a folder under
pytest's temporary folder; the folder is printed at the end of the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from ivr.config import Settings
from ivr.services import Services
from tests.conftest import FakeClock
from tests.console.test_compliance_pages import World, build_world

CHROMIUM = Path("/usr/bin/chromium")
# The browser, and a font with Chinese glyphs: without one the Chinese interface text shows as
# empty boxes in the screenshots.
BROWSER_PACKAGES = ("chromium", "fonts-wqy-microhei")
INSTALL_TIMEOUT_S = 900
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # The tests' only server is on 127.0.0.1: any other name fails to resolve, so nothing the
    # browser might try on its own (a safe-browsing list, a font) leaves the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--no-proxy-server",
]
LAPTOP = {"width": 1366, "height": 768}
TABLET = {"width": 768, "height": 1024}

_shots: list[Path] = []
_notes: list[str] = []


def _missing_packages() -> list[str]:
    """The Debian packages of BROWSER_PACKAGES that are not installed."""
    missing = []
    for package in BROWSER_PACKAGES:
        status = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            capture_output=True,
            text=True,
            check=False,
        )
        if "ok installed" not in status.stdout:
            missing.append(package)
    return missing


def _apt_get(arguments: list[str], out: IO[bytes]) -> bool:
    """Run apt-get non-interactively; True when it succeeded."""
    done = subprocess.run(
        ["apt-get", *arguments],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    return done.returncode == 0


def _install_chromium(log: Path) -> str | None:
    """Install Debian's chromium (and a CJK font) when we may; why not, or None once there."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-query") is None:
        if CHROMIUM.exists():
            return None
        return f"{CHROMIUM} is missing and there is no apt-get to install the package chromium"
    missing = _missing_packages()
    if not missing:
        return None
    if os.geteuid() != 0:
        if CHROMIUM.exists():
            return None  # the pages still render; only Chinese text shows as boxes
        return f"{CHROMIUM} is missing; as root: apt-get install -y {' '.join(missing)}"
    with log.open("wb") as out:
        try:
            # A fresh machine may have no package lists yet: update once, then try again.
            installed = _apt_get(["install", "-y", *missing], out) or (
                _apt_get(["update"], out) and _apt_get(["install", "-y", *missing], out)
            )
        except subprocess.TimeoutExpired:
            return f"apt-get install {' '.join(missing)} took over {INSTALL_TIMEOUT_S} s ({log})"
    if not CHROMIUM.exists():
        return f"apt-get install chromium did not provide {CHROMIUM} (log: {log})"
    if not installed:
        # The pages still work without the font: say so at the end, do not fail the run.
        _notes.append(f"apt-get install {' '.join(missing)} failed (log: {log})")
    return None


@pytest.fixture(scope="session")
def chromium_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The system chromium's path, installed first if missing (else the tests skip)."""
    log = tmp_path_factory.mktemp("apt") / "apt-get-chromium.log"
    problem = _install_chromium(log)
    if problem is not None:
        pytest.skip(problem)
    return str(CHROMIUM)


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    """One headless chromium for the session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=LAUNCH_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $IVR_TEST_ARTEFACTS, else a folder of this run's temporary files."""
    chosen = os.environ.get("IVR_TEST_ARTEFACTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(page: Any, folder: Path, name: str) -> Path:
    """A full-page PNG of what the page shows now."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    _shots.append(path)
    return path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where the screenshots are, and what the set-up could not install."""
    for note in _notes:
        terminalreporter.write_line(f"browser set-up: {note}")
    if _shots:
        folders = sorted({str(path.parent) for path in _shots})
        terminalreporter.write_line(f"browser screenshots ({len(_shots)}): {', '.join(folders)}")


@dataclass(frozen=True)
class Live:
    """The app over HTTP, and the world in its database."""

    base_url: str
    world: World
    sessions: sessionmaker[Session]


@pytest.fixture
def live(settings: Settings, sessions: sessionmaker[Session], clock: FakeClock) -> Iterator[Live]:
    """create_app on a werkzeug server at an ephemeral port of 127.0.0.1, with the compliance
    tests' world (a 65 s stored recording among it) in a SQLite database."""
    apps: list[Flask] = []

    def wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return apps[0](environ, start_response)

    http = make_server("127.0.0.1", 0, wsgi, threaded=True)
    # Over plain HTTP the session cookie must not be Secure, or the browser would not send it.
    public = settings.with_(public_base_url=f"http://127.0.0.1:{http.server_port}")
    world = build_world(public, Services(public, sessions, clock=clock), clock)
    apps.append(world.app)
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Live(public.public_base_url, world, sessions)
    finally:
        http.shutdown()
        thread.join(5)
        http.server_close()


@pytest.fixture
def context(browser: Any, live: Live, artefacts: Path, request: pytest.FixtureRequest) -> Any:
    """A fresh browser profile (cookies, cache) per test, its console messages kept in a file."""
    made = browser.new_context(viewport=LAPTOP, base_url=live.base_url, accept_downloads=True)
    log = (artefacts / f"{request.node.name}.console.log").open("a", encoding="utf-8")
    made.on("console", lambda message: log.write(f"{message.type}: {message.text}\n"))
    made.on("weberror", lambda error: log.write(f"error: {error.error}\n"))
    yield made
    made.close()
    log.close()


def sign_in(page: Any, username: str, password: str) -> None:
    """Sign in through the console's form, in English."""
    page.goto("/console/sign-in?lang=en")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
