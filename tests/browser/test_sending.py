"""The page sends only what someone receives, and says so; it negotiates again when the
server lost its media connections.

The server's `media_watched` and `media_state` "reconnect" are handed to the page through
its connection object (`server_says`), each at a moment when the server would say the
same, so the page's side is checked on its own: packets by `getStats()`, the words on the
page, the negotiation counters, and another tab's view of the video."""

from __future__ import annotations

import re

import pytest

from .conftest import OpenTab, screenshot
from .harness import require_browser
from .steps import (
    join,
    register,
    require_media,
    server_says,
    wait_for_colour,
    wait_frames_from,
    wait_not_sending,
    wait_sending,
)

require_browser()

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser

PRIVATE = "Only you see your camera; nobody hears you."
LIVE = "You are live: others see and hear you."
ME = "#room-tiles .tile.me"


def test_nobody_watching_pauses_the_camera_and_microphone_and_a_viewer_resumes_them(
    open_tab: OpenTab,
) -> None:
    alice = open_tab("red")
    alice_id = register(alice, "Alice")
    require_media(alice)
    join(alice, "main-stage")
    alice.wait("() => window.podium.media.publisher?.connectionState === 'connected'")
    page = alice.page
    live = page.locator("#live-state")
    preview = page.locator(".self-box")
    expect(live).to_have_attribute("aria-live", "polite")
    if alice.js("window.podium.media.watched") is None:
        # The server has not said who receives her: she sends, and the page says just that.
        wait_sending(alice)
        expect(live).to_have_text("Sending camera and mic")
        expect(preview).to_contain_text("Your camera and microphone are being sent.")
    negotiations = alice.js("window.podium.media.negotiations")

    # In the stage's audience nobody receives her: both senders pause, nothing is
    # negotiated, her preview keeps running and the page tells her, without taking focus.
    page.get_by_role("button", name="Raise hand").focus()
    server_says(alice, {"type": "media_watched", "video": False, "audio": False})
    wait_not_sending(alice)
    expect(live).to_have_text("Not live")
    expect(live).to_have_attribute("title", PRIVATE)
    expect(preview).to_contain_text(PRIVATE)
    expect(page.get_by_role("button", name="Raise hand")).to_be_focused()
    wait_for_colour(alice, ".self-box video", "red")
    screenshot(alice, "sending-private")

    # Alone in a booth still nobody receives her; a new camera track (camera off, then on)
    # stays paused.
    page.get_by_role("button", name="Leave to the lobby").click()
    join(alice, "booth-03")
    tile_live = page.locator(f"{ME} .tile-live")
    expect(tile_live).to_have_text(PRIVATE)
    page.get_by_role("button", name="Turn camera off").click()
    expect(tile_live).to_have_text("Nobody hears you; your camera is off.")
    page.get_by_role("button", name="Turn camera on").click()
    alice.wait(f"() => document.querySelector('{ME} video')?.videoWidth > 0")
    expect(tile_live).to_have_text(PRIVATE)
    wait_not_sending(alice)
    assert alice.js("window.podium.media.negotiations") == negotiations

    # Bob joins: now someone receives her. She sends again and he sees her, still without
    # a new negotiation.
    bob = open_tab("green")
    register(bob, "Bob")
    join(bob, "booth-03")
    server_says(alice, {"type": "media_watched", "video": True, "audio": True})
    wait_sending(alice)
    expect(live).to_have_text("Live: seen and heard")
    expect(live).to_have_attribute("data-state", "live")
    expect(tile_live).to_have_text(LIVE)
    wait_for_colour(bob, f"#room-tiles .tile[data-participant-id='{alice_id}'] video", "red")
    assert alice.js("window.podium.media.negotiations") == negotiations
    screenshot(alice, "sending-live")


def test_a_lost_media_connection_is_negotiated_again_once(open_tab: OpenTab) -> None:
    bob = open_tab("green")
    register(bob, "Bob")
    require_media(bob)
    join(bob, "booth-05")
    alice = open_tab("red")
    alice_id = register(alice, "Alice")
    join(alice, "booth-05")
    wait_for_colour(bob, f"#room-tiles .tile[data-participant-id='{alice_id}'] video", "red")
    before = alice.js("window.podium.media.negotiations")
    old = alice.js("window.__oldPublisher = window.podium.media.publisher, 1")
    assert old == 1

    # The server reports both connections lost, in one burst: one new negotiation of each.
    for connection in ("publish", "subscribe"):
        server_says(alice, {"type": "media_state", "connection": connection, "state": "reconnect"})
    alice.wait(
        "(n) => window.podium.media.negotiations.publish === n.publish + 1 && "
        "window.podium.media.negotiations.subscribe === n.subscribe + 1 && "
        "window.podium.media.publisher?.connectionState === 'connected'",
        before,
    )
    assert alice.js("window.__oldPublisher.connectionState") == "closed"
    # Media flows on the new connections: Alice sends, and Bob decodes new frames of her.
    wait_sending(alice)
    wait_frames_from(bob, alice_id)
    # Still one negotiation for the whole burst.
    after = alice.js("window.podium.media.negotiations")
    assert after == {"publish": before["publish"] + 1, "subscribe": before["subscribe"] + 1}
    expect(alice.page.locator(f"{ME}")).to_have_class(re.compile("has-video"))
