"""Fixtures of the browser end-to-end tests: a fresh server per test, Chromium instances
shared by the package's tests (one per fake-camera colour), tabs, bots and screenshots."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .harness import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    COLOURS,
    SCREENSHOTS,
    Bots,
    DropProxy,
    ServerProcess,
    write_y4m,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright, ViewportSize

LAPTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


# Playwright's sync API keeps an event loop running in this thread while it is started, which
# would break the asyncio tests of the other packages: it lives as long as this package only.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@dataclass
class Browsers:
    """Chromium processes by fake-camera colour, launched on first use."""

    playwright: Playwright
    folder: Path
    running: dict[str, Browser] = field(default_factory=dict)

    def get(self, colour: str) -> Browser:
        if colour not in self.running:
            clip = write_y4m(self.folder / f"{colour}.y4m", COLOURS[colour])
            self.running[colour] = self.playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                headless=True,
                args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-video-capture={clip}"],
            )
        return self.running[colour]

    def close(self) -> None:
        for browser in self.running.values():
            browser.close()
        self.running.clear()


@pytest.fixture(scope="package")
def browsers(
    playwright: Playwright, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Browsers]:
    pool = Browsers(playwright, tmp_path_factory.mktemp("cameras"))
    yield pool
    pool.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh ``podium serve`` with the demo event for every test."""
    process = ServerProcess(tmp_path / "server")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def bots(server: ServerProcess) -> Iterator[Bots]:
    runner = Bots(server.url)
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture
def proxy(server: ServerProcess) -> Iterator[DropProxy]:
    """A cuttable TCP proxy in front of the test's server."""
    running = DropProxy(server.port)
    try:
        yield running
    finally:
        running.close()


@dataclass
class Tab:
    """One participant's browser tab, with the colour of their fake camera."""

    page: Page
    colour: str
    errors: list[str]

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def wait(self, expression: str, arg: Any = None, timeout: float = 10_000) -> None:
        """Wait until a JavaScript expression (or arrow function) is truthy in the page."""
        self.page.wait_for_function(expression, arg=arg, timeout=timeout)


OpenTab = Callable[..., Tab]


@pytest.fixture
def open_tab(browsers: Browsers, server: ServerProcess) -> Iterator[OpenTab]:
    """Open a tab as a new person (own context: own storage, own token) on the test's server.

    Uncaught page errors fail the test.
    """
    contexts: list[BrowserContext] = []
    tabs: list[Tab] = []

    def open_(
        colour: str,
        path: str = "/",
        viewport: ViewportSize | None = None,
        base_url: str | None = None,
        init_script: str | None = None,
    ) -> Tab:
        context = browsers.get(colour).new_context(
            viewport=viewport or LAPTOP, base_url=base_url or server.url
        )
        context.set_default_timeout(10_000)
        if init_script:
            # Runs in every page of the tab before the app (to stand in for a browser quirk).
            context.add_init_script(init_script)
        contexts.append(context)
        page = context.new_page()
        tab = Tab(page=page, colour=colour, errors=[])
        page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
        page.goto(path)
        tabs.append(tab)
        return tab

    yield open_
    errors = [f"{t.colour}: {e}" for t in tabs for e in t.errors]
    for context in contexts:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def screenshot(tab: Tab, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot of a view to artifacts/screenshots/ (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
    tab.page.screenshot(path=str(path), full_page=full_page)
    return path
