"""Chat between tabs: a message reaches the others in the space, and HTML stays text."""

from __future__ import annotations

import pytest

from .conftest import OpenTab, screenshot
from .harness import Bots, require_browser
from .steps import join, register

require_browser()

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.browser

HOSTILE = '<img src=x onerror="window.__pwned=1"><b>bold</b> & <script>window.__pwned=2</script>'


def test_chat_between_two_tabs_shows_html_as_text(open_tab: OpenTab, bots: Bots) -> None:
    alice = open_tab("red")
    register(alice, "Alice <i>Liddell</i>")
    join(alice, "booth-07")
    bob = open_tab("green")
    register(bob, "Bob")
    join(bob, "booth-07")
    lobby_bot = bots.join("Lou in the lobby")

    alice.page.get_by_label("Message", exact=True).fill("Hello booth!")
    alice.page.get_by_label("Message", exact=True).press("Enter")
    expect(bob.page.locator("#chat-list .chat-text").last).to_have_text("Hello booth!")
    expect(bob.page.locator("#chat-list .chat-name").last).to_have_text("Alice <i>Liddell</i>")

    bob.page.get_by_label("Message", exact=True).fill(HOSTILE)
    bob.page.get_by_role("button", name="Send").click()
    for tab in (alice, bob):
        line = tab.page.locator("#chat-list .chat-text").last
        expect(line).to_have_text(HOSTILE)
        # Shown as text: no element was made from it and nothing ran.
        assert tab.page.locator("#chat-list img, #chat-list b, #chat-list script").count() == 0
        assert tab.js("window.__pwned") is None
    # The sender's field is cleared for the next message.
    expect(bob.page.get_by_label("Message", exact=True)).to_have_value("")
    # Names with markup are text on the tiles too.
    expect(bob.page.locator("#room-tiles")).to_contain_text("Alice <i>Liddell</i>")
    assert bob.page.locator("#room-tiles i").count() == 0

    # A message to everyone reaches someone in another space; a room message does not.
    alice.page.get_by_label("Send to").select_option("event")
    alice.page.get_by_label("Message", exact=True).fill("Talk starts in 5 minutes on the stage")
    alice.page.get_by_label("Message", exact=True).press("Enter")
    expect(bob.page.locator("#chat-list .chat-line").last).to_contain_text("everyone")
    bots.run(
        lobby_bot.until(
            lambda: any(c.text.startswith("Talk starts") for c in lobby_bot.chat), timeout=5
        )
    )
    assert not any(c.text == "Hello booth!" for c in lobby_bot.chat)
    screenshot(bob, "booth-chat")
