"""Moderator actions on one participant: mute request, move, removal."""

from __future__ import annotations

import re

import pytest

from .conftest import OpenTab, screenshot
from .harness import ServerProcess, require_browser
from .steps import join, open_console, register, wait_in

require_browser()

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser


def test_moderator_asks_to_mute_moves_and_removes_a_participant(
    open_tab: OpenTab, server: ServerProcess
) -> None:
    # This moderator pastes the token on the entry page instead of opening a link.
    mod = open_tab("grey")
    mod.page.get_by_text("Moderator or speaker? Sign in with a token").click()
    mod.page.get_by_label("Sign-in token").fill(server.token("Sam Rivera", "moderator"))
    mod.page.get_by_role("button", name="Sign in with token").click()
    mod.wait("() => window.podium.store.space?.kind === 'lobby'")
    expect(mod.page.get_by_role("tab", name="Moderate")).to_be_visible()
    join(mod, "booth-01")
    bob = open_tab("green")
    register(bob, "Bob")
    join(bob, "booth-01")

    # From the people list straight to the console, with Bob chosen.
    mod.page.get_by_role("tab", name=re.compile("People")).click()
    mod.page.get_by_role("button", name="Manage Bob").click()
    console = mod.page.locator("#panel-console")
    expect(console).to_be_visible()
    expect(console.get_by_label("Who")).to_have_value(bob.js("window.podium.store.me.id"))

    console.get_by_role("button", name="Ask to mute microphone").click()
    ask = bob.page.locator(".notice-ask")
    expect(ask).to_contain_text("Sam Rivera asks you to mute your microphone.")
    expect(ask.get_by_role("button", name="Mute now")).to_be_focused()
    bob.page.keyboard.press("Enter")
    expect(ask).to_be_hidden()
    expect(bob.page.locator("#mic-toggle")).to_have_attribute("aria-pressed", "false")
    expect(bob.page.locator("#room-tiles .tile.me .mic-off")).to_be_visible()
    assert bob.js("window.podium.local.audioTrack.enabled") is False

    console.get_by_label("Move to").select_option("deep-health")
    console.get_by_role("button", name="Move", exact=True).click()
    wait_in(bob, "deep-health")
    expect(bob.page.locator("#space-title")).to_have_text("Health care")
    expect(bob.page.locator(".toast")).to_contain_text("Sam Rivera moved you to Health care.")

    console.get_by_label("Reason for removal (optional)").fill("Repeated spam in the chat.")
    remove = console.locator("#console-remove")
    remove.click()
    expect(remove).to_have_text("Confirm: remove Bob")
    remove.click()
    expect(bob.page.get_by_role("heading", name="You were removed from the event")).to_be_visible()
    expect(bob.page.locator("#view-ended")).to_contain_text("Reason: Repeated spam in the chat.")
    screenshot(bob, "removed")
    # The token is forgotten: coming back means registering again.
    bob.page.reload()
    expect(bob.page.get_by_label("Your display name")).to_be_visible()
    open_console(mod)
