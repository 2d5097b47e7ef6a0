"""The main stage: raise a hand, get promoted from the moderator console into a Q&A slot,
be seen there by others, be demoted."""

from __future__ import annotations

import re

import pytest

from .conftest import OpenTab, screenshot
from .harness import ServerProcess, require_browser
from .steps import join, open_console, register, wait_in

require_browser()

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser


def test_hand_raised_promoted_seen_in_the_slot_and_demoted(
    open_tab: OpenTab, server: ServerProcess
) -> None:
    # A moderator signs in with a link carrying their token.
    mod = open_tab("grey", f"/?token={server.token('Sam Rivera', 'moderator')}")
    mod.wait("() => window.podium.store.space?.kind === 'lobby'")
    assert "token" not in mod.page.url, "the token must not stay in the address bar"
    expect(mod.page.locator("#top-user")).to_contain_text("moderator")
    join(mod, "main-stage")

    alice = open_tab("red")
    register(alice, "Alice Liddell")
    join(alice, "main-stage")
    bob = open_tab("green")
    register(bob, "Bob <em>Builder</em>")
    join(bob, "main-stage")

    # Alice raises her hand and sees her place in the queue.
    expect(alice.page.locator("#hand-status")).to_have_text(
        "Raise your hand to ask a question on camera."
    )
    alice.page.get_by_role("button", name="Raise hand").click()
    expect(alice.page.locator("#hand-status")).to_have_text(
        "Your hand is up: you are number 1 in the queue."
    )
    expect(alice.page.get_by_role("button", name="Lower hand")).to_have_attribute(
        "aria-pressed", "true"
    )
    # Bob's hand goes up too, after Alice's; the others see how many hands are up.
    bob.page.get_by_role("button", name="Raise hand").click()
    expect(bob.page.locator("#hand-status")).to_contain_text("number 2")

    # The moderator sees both, in order, in the console.
    open_console(mod)
    queue = mod.page.locator("#console-queue > li")
    expect(queue).to_have_count(2)
    expect(queue.nth(0)).to_contain_text("Alice Liddell")
    expect(queue.nth(1)).to_contain_text("Bob <em>Builder</em>")
    screenshot(mod, "moderator-console")

    # By keyboard: after the promotion the focus stays in the queue, on the next person.
    mod.page.get_by_role("button", name="Promote Alice Liddell").focus()
    mod.page.keyboard.press("Enter")
    expect(mod.page.get_by_role("button", name="Promote Bob <em>Builder</em>")).to_be_focused()

    # Alice is on stage in slot 1; her hand is down and her own tile shows her camera.
    expect(alice.page.locator("#on-stage")).to_have_text(re.compile("Q&A slot 1"))
    expect(alice.page.locator("#hand-toggle")).to_be_hidden()
    alice_tile = alice.page.locator("#qa-tiles .tile[data-slot-index='0']")
    expect(alice_tile).to_contain_text("Alice Liddell (you)")
    expect(alice_tile).to_have_class(re.compile("has-video"))
    # Bob moved up the queue and sees Alice's name in the slot.
    expect(bob.page.locator("#hand-status")).to_contain_text("number 1")
    bob_view = bob.page.locator("#qa-tiles .tile[data-slot-index='0']")
    expect(bob_view.locator(".tile-name")).to_have_text("Alice Liddell")
    expect(bob.page.locator("#qa-tiles .tile[data-slot-index='1']")).to_have_class(
        re.compile("empty")
    )
    screenshot(bob, "stage-with-qa")
    # The console shows the slot taken and Bob alone in the queue.
    expect(mod.page.locator("#console-slots [data-slot-index='0']")).to_contain_text(
        "Alice Liddell"
    )
    expect(queue).to_have_count(1)

    # Bob is promoted into slot 2, then the moderator swaps the two slots.
    mod.page.get_by_role("button", name="Promote Bob <em>Builder</em>").click()
    expect(bob.page.locator("#on-stage")).to_have_text(re.compile("Q&A slot 2"))
    mod.page.get_by_role("button", name="Swap slots 1 and 2").click()
    expect(bob.page.locator("#on-stage")).to_have_text(re.compile("Q&A slot 1"))
    expect(alice.page.locator("#on-stage")).to_have_text(re.compile("Q&A slot 2"))

    # Demoted, Alice is back in the audience and her slot empties for everyone.
    mod.page.get_by_role("button", name="Demote Alice Liddell").click()
    expect(alice.page.locator("#on-stage")).to_be_hidden()
    expect(alice.page.get_by_role("button", name="Raise hand")).to_be_visible()
    slot2 = bob.page.locator("#qa-tiles .tile[data-slot-index='1']")
    expect(slot2).to_have_class(re.compile("empty"))
    expect(slot2.locator(".tile-name")).to_have_text(re.compile("^Free"))
    wait_in(alice, "main-stage")
