"""Connection state and automatic reconnect: after a drop the client signs in again with
its stored token and keeps its place (space, raised hand) without reloading the page."""

from __future__ import annotations

import re

import pytest

from .conftest import OpenTab, screenshot
from .harness import DropProxy, require_browser
from .steps import join, mark_window, media_settled, register, wait_in

require_browser()

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser

RECORD_STATUSES = """() => {
    window.__statuses = [];
    window.podium.conn.addEventListener('status', (e) => window.__statuses.push(e.detail.status));
}"""


def test_reconnects_after_a_drop_and_keeps_the_raised_hand(
    open_tab: OpenTab, proxy: DropProxy
) -> None:
    tab = open_tab("yellow", base_url=proxy.url)
    page = tab.page
    register(tab, "Dee Dropout")
    join(tab, "main-stage")
    page.get_by_role("button", name="Raise hand").click()
    expect(page.locator("#hand-status")).to_contain_text("number 1")
    marker = mark_window(tab)
    media_settled(tab)
    media_before = tab.js("window.podium.media.negotiations")
    tab.js(RECORD_STATUSES)

    # The network drops and stays down for a moment: the page says so and keeps trying.
    proxy.refuse(True)
    proxy.cut()
    banner = page.locator(".notice-warn")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Connection lost")
    expect(page.locator("#top-conn")).to_have_text("Reconnecting…")
    screenshot(tab, "reconnecting")

    # The network is back; "Retry now" (here from the keyboard) reconnects at once.
    proxy.refuse(False)
    banner.get_by_role("button", name="Retry now").focus()
    page.keyboard.press("Enter")
    tab.wait("() => window.podium.conn.status === 'online'", timeout=15_000)
    expect(banner).to_be_hidden()
    expect(page.locator("#top-conn")).to_have_text(re.compile("Connected"))
    assert tab.js("window.__statuses")[0] == "reconnecting"
    assert tab.js("window.podium.conn.connects") == 2

    # Same place: still on the stage with the hand up, in the same page.
    wait_in(tab, "main-stage")
    expect(page.locator("#hand-status")).to_contain_text("number 1")
    assert tab.js("window.__podiumMarker") == marker
    # The media connections do not depend on the websocket: nothing was renegotiated.
    assert tab.js("window.podium.media.negotiations") == media_before

    # A plain cut reconnects by itself, without any click.
    proxy.cut()
    tab.wait("() => window.podium.conn.connects === 3", timeout=15_000)
    wait_in(tab, "main-stage")
    expect(page.locator("#hand-status")).to_contain_text("number 1")


def test_a_second_tab_of_the_same_person_takes_over_and_can_hand_back(open_tab: OpenTab) -> None:
    first = open_tab("red")
    register(first, "Tess Twotabs")
    join(first, "booth-04")
    media = media_settled(first)
    # Same browser profile, same stored token: the server keeps one connection per person.
    second = first.page.context.new_page()
    second.goto("/")
    second.wait_for_function("() => window.podium?.store.space?.id === 'booth-04'")
    heading = first.page.get_by_role("heading", name="Podium is open somewhere else")
    expect(heading).to_be_visible()
    assert first.js("window.podium.conn.status") == "replaced"
    # It does not fight back on its own; the person chooses where to continue.
    first.page.get_by_role("button", name="Use Podium here").click()
    wait_in(first, "booth-04")
    if media == "connected":
        # The other tab's media replaced this page's on the server: negotiated again, once.
        first.wait("() => window.podium.media.negotiations.publish === 2")
        assert media_settled(first) == "connected"
    expect(second.get_by_role("heading", name="Podium is open somewhere else")).to_be_visible()
    second.close()
