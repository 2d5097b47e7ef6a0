"""Registration, the lobby's agenda with live counts, and moving with one click."""

from __future__ import annotations

import re

import pytest

from .conftest import PHONE, OpenTab, screenshot
from .harness import Bots, require_browser
from .steps import join, mark_window, register

require_browser()

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser


def test_registration_leads_to_the_lobby_with_the_whole_agenda(
    open_tab: OpenTab, bots: Bots
) -> None:
    tab = open_tab("red")
    page = tab.page
    expect(page.get_by_role("heading", name=re.compile("Welcome to Podium Summit"))).to_be_visible()
    screenshot(tab, "register")
    # An empty name is refused in the page, with a message next to the field.
    page.get_by_role("button", name="Enter the event").click()
    expect(page.get_by_role("alert")).to_have_text("Please enter a display name.")

    register(tab, "Ada Obi")
    lobby = page.locator("#view-lobby")
    expect(lobby.get_by_role("heading", level=1)).to_have_text("Podium Summit 2026")
    booths = lobby.locator(".cards-booth > li")
    expect(booths).to_have_count(20)
    for i in range(20):
        card = booths.nth(i)
        expect(card.locator(".card-title")).not_to_be_empty()
        expect(card.locator(".card-desc")).not_to_be_empty()
        expect(card.get_by_role("button", name=re.compile("^Join"))).to_be_enabled()
    expect(lobby.locator(".cards-deep > li")).to_have_count(5)
    expect(lobby.locator(".cards-stage > li")).to_have_count(1)
    expect(lobby.locator(".agenda-now")).to_contain_text("No discussion round is running")
    expect(page.locator("#top-conn")).to_have_text(re.compile("Connected"))
    screenshot(tab, "lobby")

    # Live counts: someone entering a booth shows up on its card without a reload.
    marker = mark_window(tab)
    bots.join("Bo Bot", "booth-03")
    expect(lobby.locator("[data-space-id='booth-03'] .card-count")).to_have_text("1 / 12")

    # The booth filter narrows the list.
    lobby.get_by_label("Filter booths").fill("transit")
    expect(booths.locator("visible=true")).to_have_count(1)
    lobby.get_by_label("Filter booths").fill("")

    # One click into a booth; no reload, same connection.
    join(tab, "booth-03")
    space = page.locator("#view-space")
    expect(space.get_by_role("heading", level=1)).to_have_text("Transit Pulse")
    expect(space.locator("#room-tiles .tile")).to_have_count(2)
    expect(space.locator("#room-tiles")).to_contain_text("Ada Obi (you)")
    expect(space.locator("#room-tiles")).to_contain_text("Bo Bot")
    page.get_by_role("button", name="Back to stage").click()
    expect(space.get_by_role("heading", level=1)).to_have_text("Main stage")
    expect(page.locator("#audience-count")).to_have_text("1 person in the audience")
    assert tab.js("window.__podiumMarker") == marker
    assert tab.js("window.podium.conn.connects") == 1


def test_phone_width_fits_without_sideways_scrolling(open_tab: OpenTab) -> None:
    tab = open_tab("blue", viewport=PHONE)
    register(tab, "Pat Phone")
    page = tab.page
    expect(page.locator("#view-lobby .cards-booth > li")).to_have_count(20)
    assert tab.js("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(tab, "lobby-phone")
    join(tab, "main-stage")
    expect(page.locator("#hand-toggle")).to_be_visible()
    assert tab.js("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(tab, "stage-phone")
