"""The moderator console without visiting the stage, mute badges seen from another tab, and
finding a participant anywhere in the event to move them."""

from __future__ import annotations

import re

import pytest

from .conftest import OpenTab, screenshot
from .harness import ServerProcess, require_browser
from .steps import join, media_settled, open_console, register, wait_for_colour, wait_in

require_browser()

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser


def test_console_shows_a_raised_hand_before_the_moderator_opens_the_stage(
    open_tab: OpenTab, server: ServerProcess
) -> None:
    mod = open_tab("grey", f"/?token={server.token('Sam Rivera', 'moderator')}")
    mod.wait("() => window.podium.store.space?.kind === 'lobby'")
    open_console(mod)
    console = mod.page.locator("#panel-console")
    # The queue and the slots are there at once, from the lobby.
    expect(console.locator("#console-queue-note")).to_have_text("No hands raised.")
    expect(console.locator("#console-slots [data-slot-index='0']")).to_contain_text("free")
    expect(console).not_to_contain_text("Open the stage")
    # The round form takes its defaults from the event's first template.
    expect(console.get_by_label("Template")).to_have_value("discussion-round")
    expect(console.get_by_label("Rooms", exact=True)).to_have_value("5")
    expect(console.get_by_label("Minutes", exact=True)).to_have_value("15")
    expect(console.get_by_label("Room capacity")).to_have_value("12")

    alice = open_tab("red")
    register(alice, "Alice Liddell")
    join(alice, "main-stage")
    alice.page.get_by_role("button", name="Raise hand").click()
    expect(alice.page.locator("#hand-status")).to_contain_text("number 1")

    queue = console.locator("#console-queue > li")
    expect(queue).to_have_count(1)
    expect(queue.nth(0)).to_contain_text("Alice Liddell")
    # Promoted from the lobby: Alice is on stage and the console shows her slot.
    console.get_by_role("button", name="Promote Alice Liddell").click()
    expect(alice.page.locator("#on-stage")).to_have_text(re.compile("Q&A slot 1"))
    expect(console.locator("#console-slots [data-slot-index='0']")).to_contain_text("Alice Liddell")
    expect(queue).to_have_count(0)
    # On stage, Alice mutes: the console shows it on her slot.
    alice.page.get_by_role("button", name="Mute microphone").click()
    expect(console.locator("#console-slots [data-slot-index='0'] .mic-off")).to_be_visible()
    assert mod.js("window.podium.store.space.kind") == "lobby", "the moderator never moved"


def test_a_participants_mute_shows_on_another_tabs_tile(open_tab: OpenTab) -> None:
    alice = open_tab("red")
    register(alice, "Alice Liddell")
    join(alice, "booth-01")
    bob = open_tab("green")
    bob_id = register(bob, "Bob Builder")
    join(bob, "booth-01")

    tile = alice.page.locator(f"#room-tiles .tile[data-participant-id='{bob_id}']")
    expect(tile).to_be_visible()
    expect(tile.locator(".mic-off")).to_have_count(0)
    expect(tile.locator(".cam-off")).to_have_count(0)

    bob.page.get_by_role("button", name="Mute microphone").click()
    expect(tile.locator(".mic-off")).to_be_visible()
    in_people = alice.page.locator(f"#people-list [data-participant-id='{bob_id}']")
    expect(in_people.locator(".mic-off")).to_have_count(1)
    bob.page.get_by_role("button", name="Turn camera off").click()
    expect(tile.locator(".cam-off")).to_be_visible()
    expect(tile).not_to_have_class(re.compile("has-video"))
    screenshot(alice, "booth-muted")

    bob.page.get_by_role("button", name="Unmute microphone").click()
    expect(tile.locator(".mic-off")).to_have_count(0)
    expect(tile.locator(".cam-off")).to_be_visible()


def test_console_search_finds_a_participant_in_a_booth_and_moves_them(
    open_tab: OpenTab, server: ServerProcess
) -> None:
    mod = open_tab("grey", f"/?token={server.token('Sam Rivera', 'moderator')}")
    mod.wait("() => window.podium.store.space?.kind === 'lobby'")
    carol = open_tab("blue")
    carol_id = register(carol, "Carol Zebrowski")
    join(carol, "booth-07")
    booth = carol.js("window.podium.store.space.title")

    # The moderator has never seen Carol: the search asks the server.
    open_console(mod)
    console = mod.page.locator("#panel-console")
    console.get_by_label("Find a participant").fill("zebro")
    found = console.locator("#console-search-results > li")
    expect(found).to_have_count(1)
    expect(found.nth(0)).to_contain_text("Carol Zebrowski")
    expect(found.nth(0)).to_contain_text(booth)

    found.nth(0).scroll_into_view_if_needed()
    screenshot(mod, "console-search")
    console.get_by_role("button", name="Choose Carol Zebrowski").click()
    expect(console.locator("#console-chosen")).to_have_text(f"Chosen: Carol Zebrowski in {booth}")
    expect(console.get_by_label("Who")).to_have_value(carol_id)
    console.get_by_label("Move to").select_option("deep-health")
    console.get_by_role("button", name="Move", exact=True).click()
    wait_in(carol, "deep-health")
    expect(carol.page.locator(".toast")).to_contain_text("Sam Rivera moved you to Health care.")
    # The result follows her.
    expect(found.nth(0)).to_contain_text("Health care")


# The camera and microphone are refused until the page sets `window.__allowCamera`.
BLOCKED_CAMERA = """(() => {
    const devices = navigator.mediaDevices;
    const real = devices.getUserMedia.bind(devices);
    devices.getUserMedia = (constraints) =>
        window.__allowCamera
            ? real(constraints)
            : Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
})();"""


def test_a_viewer_turns_the_camera_on_later_without_touching_what_they_watch(
    open_tab: OpenTab,
) -> None:
    alice = open_tab("red")
    alice_id = register(alice, "Alice")
    join(alice, "booth-03")
    bob = open_tab("green", init_script=BLOCKED_CAMERA)
    bob_id = register(bob, "Bob")
    if media_settled(bob) == "unavailable":
        pytest.skip("the server has no media plane (media requests answer not_ready)")
    join(bob, "booth-03")
    # Camera blocked: Bob only watches (media_subscribe), and sees Alice.
    expect(bob.page.locator("#top-media .media-state")).to_have_text("Camera blocked")
    assert bob.js("window.podium.media.negotiations") == {"publish": 0, "subscribe": 1}
    wait_for_colour(bob, f"#room-tiles .tile[data-participant-id='{alice_id}'] video", "red")

    # He allows the camera and turns it on: a publish connection is added beside the other.
    bob.js("window.__allowCamera = true")
    bob.page.get_by_role("button", name="Turn camera on").click()
    wait_for_colour(alice, f"#room-tiles .tile[data-participant-id='{bob_id}'] video", "green")
    assert bob.js("window.podium.media.negotiations") == {"publish": 1, "subscribe": 1}
    wait_for_colour(bob, f"#room-tiles .tile[data-participant-id='{alice_id}'] video", "red")
