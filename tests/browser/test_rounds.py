"""Discussion rounds: the moderator opens a round of two rooms, the stage audience lands in
breakouts with a countdown and the broadcast banner, the round closes and everyone is back
on stage. The page never reloads and the websocket never reconnects."""

from __future__ import annotations

import re

import pytest

from .conftest import OpenTab, Tab, screenshot
from .harness import Bots, ServerProcess, require_browser
from .steps import (
    join,
    mark_window,
    media_settled,
    open_console,
    register,
    wait_for_colour,
    wait_in,
)

require_browser()

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser


def _in_breakout(tab: Tab) -> str:
    tab.wait(
        "() => window.podium.store.space?.kind === 'breakout' && "
        "!document.querySelector('#view-space').hidden"
    )
    room: str = tab.js("window.podium.store.space.id")
    return room


def test_round_of_two_rooms_then_everyone_back_on_stage(
    open_tab: OpenTab, server: ServerProcess, bots: Bots
) -> None:
    mod = open_tab("grey", f"/?token={server.token('Sam Rivera', 'moderator')}")
    mod.wait("() => window.podium.store.space?.kind === 'lobby'")
    join(mod, "main-stage")
    tabs = []
    for colour, name in (("red", "Alice"), ("green", "Bob"), ("blue", "Cleo")):
        tab = open_tab(colour)
        register(tab, name)
        join(tab, "main-stage")
        tabs.append(tab)
    # Three tabs and a bot in two rooms: two of the tabs always share a room.
    helpers = [bots.join("Helper", "main-stage")]
    markers = [mark_window(tab) for tab in tabs]

    open_console(mod)
    console = mod.page.locator("#panel-console")
    console.get_by_label("Title (optional)").fill("Ideas for the city")
    console.get_by_label("Rooms", exact=True).fill("2")
    console.get_by_label("Minutes", exact=True).fill("5")
    console.get_by_role("radio", name=re.compile("^Random")).check()
    console.get_by_role("button", name="Open round").click()

    rooms = {}
    for tab in tabs:
        rooms[tab.colour] = _in_breakout(tab)
        page = tab.page
        expect(page.locator("#space-title")).to_have_text(re.compile(r"Room \d"))
        expect(page.locator("#round-bar")).to_be_visible()
        expect(page.locator("#round-bar .round-title")).to_have_text("Ideas for the city")
        expect(page.locator("#round-countdown")).to_have_text(re.compile(r"^[45]:\d\d left$"))
        expect(page.get_by_role("button", name="Back to stage")).to_be_visible()
    assert set(rooms.values()) == {"round-1-room-1", "round-1-room-2"}
    # Random assignment spreads the four evenly: two per room, names on the tiles.
    bots.run(helpers[0].until(lambda: helpers[0].space_id.startswith("round-1-room")))
    for tab in tabs:
        expect(tab.page.locator("#room-tiles .tile")).to_have_count(2)
        names = tab.js("Array.from(window.podium.store.members.values()).map(m => m.name)")
        for other in tabs:
            if other is not tab and rooms[other.colour] == rooms[tab.colour]:
                assert other.js("window.podium.store.me.name") in names
    # With a media plane, the two tabs sharing a room see each other's camera.
    if media_settled(tabs[0]) == "connected":
        together = [(a, b) for a in tabs for b in tabs if a is not b]
        pairs = [(a, b) for a, b in together if rooms[a.colour] == rooms[b.colour]]
        assert len(pairs) == 2
        for viewer, seen in pairs:
            seen_id = seen.js("window.podium.store.me.id")
            tile = f"#room-tiles .tile[data-participant-id='{seen_id}'] video"
            wait_for_colour(viewer, tile, seen.colour)
    # The console counts the rooms too.
    expect(console.locator("#console-rooms > li")).to_have_count(2)
    screenshot(tabs[0], "breakout")

    message = "Five minutes left: <b>agree</b> on one idea."
    console.get_by_label("Message to all rooms").fill(message)
    console.get_by_role("button", name="Broadcast").click()
    for tab in tabs:
        banner = tab.page.locator("#broadcast-banner")
        expect(banner).to_be_visible()
        expect(banner.locator(".broadcast-text")).to_have_text(message)
        expect(banner).to_contain_text("Sam Rivera")
    screenshot(tabs[1], "breakout-broadcast")
    # The countdown runs.
    expect(tabs[0].page.locator("#round-countdown")).to_have_text(re.compile(r"^4:5\d left$"))

    console.get_by_role("button", name="Close round now").click()
    for tab, marker in zip(tabs, markers, strict=True):
        wait_in(tab, "main-stage")
        expect(tab.page.locator("#space-title")).to_have_text("Main stage")
        expect(tab.page.locator("#round-bar")).to_be_hidden()
        expect(tab.page.locator("#broadcast-banner")).to_be_hidden()
        # Same page, same websocket, media negotiated at most once.
        assert tab.js("window.__podiumMarker") == marker
        assert tab.js("window.podium.conn.connects") == 1
        negotiations = tab.js("window.podium.media.negotiations")
        assert negotiations["publish"] <= 1 and negotiations["subscribe"] <= 1, negotiations
    bots.run(helpers[0].until(lambda: helpers[0].space_id == "main-stage"))
    expect(console.locator("#open-round-form")).to_be_visible()


def test_round_by_choice_and_assignment_from_the_console(
    open_tab: OpenTab, server: ServerProcess
) -> None:
    mod = open_tab("grey", f"/?token={server.token('Sam Rivera', 'moderator')}")
    mod.wait("() => window.podium.store.space?.kind === 'lobby'")
    join(mod, "main-stage")
    alice = open_tab("red")
    register(alice, "Alice")
    join(alice, "main-stage")
    bob = open_tab("green")
    register(bob, "Bob")
    # Bob says hello to everyone from the lobby; that is how the moderator knows him.
    bob.page.get_by_label("Send to").select_option("event")
    bob.page.get_by_label("Message", exact=True).fill("Hi all, Bob here")
    bob.page.get_by_label("Message", exact=True).press("Enter")

    open_console(mod)
    console = mod.page.locator("#panel-console")
    console.get_by_label("Rooms", exact=True).fill("2")
    console.get_by_label("Minutes", exact=True).fill("10")
    console.get_by_role("radio", name=re.compile("^Choice")).check()
    console.get_by_role("button", name="Open round").click()

    # Nobody is moved; Alice picks a room herself from the agenda.
    bar = alice.page.locator("#round-bar")
    expect(bar).to_contain_text("Discussion round running")
    bar.get_by_role("button", name="Choose a room").click()
    dialog = alice.page.get_by_role("dialog", name="Agenda")
    rooms = dialog.locator(".cards-round > li")
    expect(rooms).to_have_count(2)
    rooms.nth(1).get_by_role("button", name=re.compile("^Join")).click()
    wait_in(alice, "round-1-room-2")
    expect(dialog).to_be_hidden()
    expect(alice.page.locator("#round-bar")).to_contain_text("Room 2 of 2")
    # Bob sees the rooms in the lobby's agenda, with Alice counted in hers.
    lobby_rooms = bob.page.locator("#view-lobby .cards-round > li")
    expect(lobby_rooms).to_have_count(2)
    expect(lobby_rooms.nth(1).locator(".card-count")).to_have_text(re.compile("^1 "))

    # The moderator puts Bob into room 1 from the console.
    bob_id = bob.js("window.podium.store.me.id")
    person = console.get_by_label("Person", exact=True)
    expect(person.locator(f"option[value='{bob_id}']")).to_have_text(re.compile("^Bob"))
    person.select_option(bob_id)
    console.get_by_label("Room", exact=True).select_option("round-1-room-1")
    console.get_by_role("button", name="Assign").click()
    wait_in(bob, "round-1-room-1")

    console.get_by_role("button", name="Close round now").click()
    wait_in(alice, "main-stage")
    # Bob came from the lobby, and goes back there.
    bob.wait("() => window.podium.store.space?.id === 'lobby'")
    expect(bob.page.locator("#view-lobby .cards-round > li")).to_have_count(0)
