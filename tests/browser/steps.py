"""What a person does in the client, as reusable steps for the browser tests."""

from __future__ import annotations

import time
from typing import Any

import pytest

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


def require_media(tab: Tab) -> None:
    """Skip the test while the server has no media plane."""
    if media_settled(tab) == "unavailable":
        pytest.skip("the server has no media plane yet (media requests answer not_ready)")


def server_says(tab: Tab, message: dict[str, Any]) -> None:
    """Hand the page a message as if the server had sent it: the page's connection object
    dispatches it exactly as it dispatches what arrives on its websocket."""
    tab.js(
        "(m) => window.podium.conn.dispatchEvent(new CustomEvent('message', { detail: m }))",
        message,
    )


def packets_sent(tab: Tab) -> dict[str, int]:
    """RTP packets sent so far on the page's publish connection, by kind (audio, video)."""
    sent: dict[str, int] = tab.js(
        """async () => {
            const sent = { audio: 0, video: 0 };
            const pc = window.podium.media.publisher;
            if (!pc) return sent;
            (await pc.getStats()).forEach((r) => {
                if (r.type === 'outbound-rtp') sent[r.kind] += r.packetsSent || 0;
            });
            return sent;
        }"""
    )
    return sent


def wait_not_sending(tab: Tab, timeout: float = 8.0) -> None:
    """Wait until neither audio nor video packets leave the page: two samples a second
    apart are equal (packets already in flight when the sender paused count in the first)."""
    deadline = time.monotonic() + timeout
    before = packets_sent(tab)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        after = packets_sent(tab)
        if after == before:
            return
        before = after
    raise AssertionError(f"{tab.colour} tab still sends: {before}")


def wait_sending(
    tab: Tab, kinds: tuple[str, ...] = ("audio", "video"), timeout: float = 8.0
) -> None:
    """Wait until packets of every kind in ``kinds`` leave the page (a dozen more each)."""
    start = packets_sent(tab)
    deadline = time.monotonic() + timeout
    now = start
    while time.monotonic() < deadline:
        now = packets_sent(tab)
        if all(now[k] > start[k] + 12 for k in kinds):
            return
        time.sleep(0.2)
    raise AssertionError(f"{tab.colour} tab sends no {kinds}: {start} then {now}")


def frames_from(tab: Tab, participant_id: str) -> int:
    """Video frames this page has decoded in the slot showing ``participant_id``."""
    frames: int = tab.js(
        """async (who) => {
            const media = window.podium.media;
            for (const [mid, a] of media.assignments) {
                const slot = media.slots.get(mid);
                if (a.kind !== 'video' || a.participant_id !== who || !slot) continue;
                let frames = 0;
                (await slot.receiver.getStats()).forEach((r) => {
                    if (r.type === 'inbound-rtp') frames += r.framesDecoded || 0;
                });
                return frames;
            }
            return 0;
        }""",
        participant_id,
    )
    return frames


def wait_frames_from(tab: Tab, participant_id: str, more: int = 15, timeout: float = 8.0) -> None:
    """Wait until this page decodes ``more`` new video frames of ``participant_id``."""
    start = frames_from(tab, participant_id)
    deadline = time.monotonic() + timeout
    now = start
    while time.monotonic() < deadline:
        now = frames_from(tab, participant_id)
        if now >= start + more:
            return
        time.sleep(0.2)
    raise AssertionError(f"{tab.colour} tab decodes no new frames of {participant_id}: {now}")


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
