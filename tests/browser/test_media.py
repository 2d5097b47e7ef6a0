"""My camera and microphone (preview, mute, camera off, device choice), and video through
the SFU checked by colour: every tab's fake camera sends one solid colour.

The colour checks need the server's media plane; they skip while the server answers media
requests with `not_ready` (the client then shows "media unavailable")."""

from __future__ import annotations

import re

import pytest

from .conftest import OpenTab, screenshot
from .harness import ServerProcess, require_browser
from .steps import join, media_settled, open_console, register, require_media, wait_for_colour

require_browser()

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser


def test_camera_preview_mute_camera_off_and_device_choice(open_tab: OpenTab) -> None:
    tab = open_tab("red")
    page = tab.page
    register(tab, "Ada")
    join(tab, "booth-02")
    me = "#room-tiles .tile.me"
    expect(page.locator(me)).to_have_class(re.compile("has-video"))
    wait_for_colour(tab, f"{me} video", "red")
    state = media_settled(tab)
    assert state in ("connected", "unavailable"), state
    hint = page.locator(".media-hint")
    if state == "unavailable":
        expect(hint).to_contain_text("Media unavailable")
    else:
        expect(hint).to_be_hidden()

    # Mute: the track stays, disabled; the tile and the button say so.
    page.get_by_role("button", name="Mute microphone").click()
    expect(page.locator("#mic-toggle")).to_have_attribute("aria-pressed", "false")
    expect(page.locator(f"{me} .mic-off")).to_be_visible()
    assert tab.js("window.podium.local.audioTrack.enabled") is False
    page.get_by_role("button", name="Unmute microphone").click()
    assert tab.js("window.podium.local.audioTrack.enabled") is True

    # Camera off: the capture stops (its light goes out) and the tile shows initials.
    page.get_by_role("button", name="Turn camera off").click()
    expect(page.locator(me)).not_to_have_class(re.compile("has-video"))
    expect(page.locator(f"{me} .avatar")).to_have_text("A")
    assert tab.js("window.podium.local.videoTrack") is None
    page.get_by_role("button", name="Turn camera on").click()
    expect(page.locator(me)).to_have_class(re.compile("has-video"))
    wait_for_colour(tab, f"{me} video", "red")

    # Device choice, by keyboard: a different microphone replaces the track in place.
    page.get_by_role("button", name="Devices").click()
    dialog = page.get_by_role("dialog", name="Camera and microphone")
    expect(dialog).to_be_visible()
    mics = dialog.get_by_label("Microphone", exact=True).locator("option")
    assert dialog.get_by_label("Camera", exact=True).locator("option").count() >= 1
    if mics.count() > 1:
        other = mics.nth(1).get_attribute("value")
        dialog.get_by_label("Microphone", exact=True).select_option(other)
        tab.wait("(id) => window.podium.local.audioTrack?.getSettings().deviceId === id", other)
    screenshot(tab, "devices")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    negotiations = tab.js("window.podium.media.negotiations")
    assert negotiations["publish"] <= 1 and negotiations["subscribe"] <= 1


def test_booth_members_see_each_others_camera(open_tab: OpenTab) -> None:
    alice = open_tab("red")
    register(alice, "Alice")
    require_media(alice)
    join(alice, "booth-05")
    bob = open_tab("green")
    bob_id = register(bob, "Bob")
    join(bob, "booth-05")
    alice_id = alice.js("window.podium.store.me.id")
    wait_for_colour(bob, f"#room-tiles .tile[data-participant-id='{alice_id}'] video", "red")
    wait_for_colour(alice, f"#room-tiles .tile[data-participant-id='{bob_id}'] video", "green")
    screenshot(bob, "booth-video")


def test_speaker_and_promoted_attendee_are_seen_on_stage(
    open_tab: OpenTab, server: ServerProcess
) -> None:
    speaker = open_tab("yellow", f"/?token={server.token('Noor Haddad', 'speaker')}")
    speaker.wait("() => window.podium.store.space?.kind === 'lobby'")
    require_media(speaker)
    join(speaker, "main-stage")
    expect(speaker.page.locator("#on-stage")).to_contain_text("speaker seat")
    speaker_id = speaker.js("window.podium.store.me.id")
    mod = open_tab("grey", f"/?token={server.token('Sam Rivera', 'moderator')}")
    mod.wait("() => window.podium.store.space?.kind === 'lobby'")
    join(mod, "main-stage")
    viewers = []
    for colour, name in (("red", "Alice"), ("green", "Bob")):
        tab = open_tab(colour)
        register(tab, name)
        join(tab, "main-stage")
        viewers.append(tab)
    alice, bob = viewers

    # Two attendees see the speaker's camera.
    for tab in viewers:
        wait_for_colour(
            tab, f"#speaker-tiles .tile[data-participant-id='{speaker_id}'] video", "yellow"
        )

    # Alice raises her hand, is promoted, and Bob sees her colour in the Q&A slot.
    alice.page.get_by_role("button", name="Raise hand").click()
    open_console(mod)
    mod.page.get_by_role("button", name="Promote Alice").click()
    wait_for_colour(bob, "#qa-tiles .tile[data-slot-index='0'] video", "red")
    screenshot(bob, "stage-video")

    # Demoted: the slot empties and shows no video.
    mod.page.get_by_role("button", name="Demote Alice").click()
    slot = bob.page.locator("#qa-tiles .tile[data-slot-index='0']")
    expect(slot).to_have_class(re.compile("empty"))
    expect(slot).not_to_have_class(re.compile("has-video"))
    for tab in [*viewers, speaker]:
        negotiations = tab.js("window.podium.media.negotiations")
        assert negotiations == {"publish": 1, "subscribe": 1}, negotiations
