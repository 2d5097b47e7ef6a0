"""What a person does in the client, as reusable steps for the browser tests."""

from __future__ import annotations

import time

from .conftest import Tab
from .harness import COLOURS


def register(tab: Tab, name: str) -> str:
    """Enter a display name and land in the lobby; returns the participant id."""
    page = tab.page
    page.get_by_label("Your display name").fill(name)
    page.get_by_role("button", name="Enter the event").click()
    page.locator("#view-lobby .cards-booth > li").first.wait_for()
    tab.wait("() => window.podium.store.space?.kind === 'lobby'")
    pid: str = tab.js("window.podium.store.me.id")
    return pid


def join(tab: Tab, space_id: str) -> None:
    """Join a space from the lobby's agenda with one click."""
    tab.page.locator(f"#view-lobby [data-space-id='{space_id}'] button.join").click()
    wait_in(tab, space_id)


def wait_in(tab: Tab, space_id: str, timeout: float = 10_000) -> None:
    tab.wait(
        "(id) => window.podium.store.space?.id === id && "
        "!document.querySelector('#view-space').hidden",
        space_id,
        timeout=timeout,
    )


def open_console(tab: Tab) -> None:
    tab.page.get_by_role("tab", name="Moderate").click()


def mark_window(tab: Tab) -> str:
    """Leave a marker on the window: it survives anything but a page reload."""
    marker: str = tab.js("window.__podiumMarker = Math.random().toString(36).slice(2)")
    return marker


def read_centre_pixel(tab: Tab, selector: str) -> tuple[int, int, int] | None:
    """The colour at the centre of a <video>, or None while it shows no frame."""
    rgb = tab.js(
        """(selector) => {
            const video = document.querySelector(selector);
            if (!video || !video.videoWidth) return null;
            const canvas = document.createElement('canvas');
            canvas.width = video.videoWidth;
            canvas.height = video.videoHeight;
            const ctx = canvas.getContext('2d');
            ctx.drawImage(video, 0, 0);
            const d = ctx.getImageData(canvas.width >> 1, canvas.height >> 1, 1, 1).data;
            return [Number(d[0]), Number(d[1]), Number(d[2])];
        }""",
        selector,
    )
    return None if rgb is None else (int(rgb[0]), int(rgb[1]), int(rgb[2]))


def close_to(rgb: tuple[int, int, int] | None, want: tuple[int, int, int], tol: int = 40) -> bool:
    return rgb is not None and all(abs(a - b) <= tol for a, b in zip(rgb, want, strict=True))


def media_settled(tab: Tab, timeout: float = 15_000) -> str:
    """Wait until the media negotiation is over (connected, or known to be unavailable)."""
    tab.wait(
        """() => {
            const m = window.podium.media;
            if (['idle', 'negotiating'].includes(m.state)) return false;
            // Connected means both sides: the publish answer and the subscribe offer arrived.
            return m.state !== 'connected' || m.negotiations.subscribe > 0;
        }""",
        timeout=timeout,
    )
    state: str = tab.js("window.podium.media.state")
    return state


def wait_for_colour(tab: Tab, selector: str, colour: str, timeout: float = 10.0) -> None:
    """Wait until the <video> at ``selector`` shows ``colour`` (a fake camera's)."""
    want = COLOURS[colour]
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = read_centre_pixel(tab, selector)
        if close_to(seen, want):
            return
        time.sleep(0.2)
    raise AssertionError(f"{tab.colour} tab: {selector} shows {seen}, wanted {colour} {want}")
