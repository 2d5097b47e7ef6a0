"""The bots' browser habits are the web client's: read from the client's own sources.

When one of these fails, the web client changed what it does on the wire: change
``loadtest/browser.py`` (and the bots) to match, so load tests keep measuring what browsers
cost the server.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from loadtest import browser
from signaling import protocol as p

WEB = Path(__file__).resolve().parents[2] / "web"


def _source(name: str) -> str:
    return (WEB / name).read_text()


def _constant(source: str, name: str) -> str:
    match = re.search(rf"const {name} = ([^;]+);", source)
    assert match, f"{name} is no longer defined in the web client"
    return match.group(1).strip()


def test_reconnect_delays_and_jitter_are_the_pages() -> None:
    source = _source("js/connection.js")
    delays = [int(v) / 1000 for v in re.findall(r"\d+", _constant(source, "RETRY_DELAYS_MS"))]
    assert tuple(delays) == browser.RETRY_DELAYS_S
    jitter = re.search(r"delay \* \(([\d.]+) \+ Math\.random\(\) \* ([\d.]+)\)", source)
    assert jitter, "the page's reconnect jitter changed shape"
    low, span = float(jitter.group(1)), float(jitter.group(2))
    assert pytest.approx((low, low + span)) == browser.RETRY_JITTER


def test_keepalive_and_sign_in_timers_are_the_pages() -> None:
    source = _source("js/connection.js")
    assert int(_constant(source, "KEEPALIVE_EVERY_MS")) / 1000 == browser.KEEPALIVE_EVERY_S
    assert int(_constant(source, "PONG_WAIT_MS")) / 1000 == browser.PONG_WAIT_S
    assert int(_constant(source, "HELLO_WAIT_MS")) / 1000 == browser.HELLO_WAIT_S
    assert int(_constant(_source("js/media.js"), "ICE_GATHER_TIMEOUT_MS")) / 1000 == (
        browser.ICE_GATHER_TIMEOUT_S
    )


def test_the_page_gives_up_after_the_same_close_codes() -> None:
    source = _source("js/connection.js")
    handler = source[source.index("_closed(event)") : source.index("_final(status, detail)")]
    final = {
        getattr(p, name)
        for name in re.findall(r"event\.code === (CLOSE_\w+)", handler)
        if hasattr(p, name)
    }
    assert final == browser.FINAL_CLOSE_CODES
    for name in re.findall(r"export const (CLOSE_\w+) = (\d+);", source):
        assert getattr(p, name[0]) == int(name[1])


def test_the_page_publishes_camera_and_microphone_at_its_first_welcome() -> None:
    app = _source("app.js")
    welcome = app[app.index('case "welcome":') : app.index('case "moved":')]
    assert "this.local.start().finally(() => this.media.start())" in welcome
    assert "this.media.broken" in welcome and "this.media.restart()" in welcome
    media = _source("js/media.js")
    publish = media[media.index("async _publish(") : media.index("async _subscribeOnly(")]
    assert "this.local.audioTrack" in publish and "this.local.videoTrack" in publish


def test_retry_delays_grow_then_repeat_the_last() -> None:
    rng = random.Random(1)
    delays = [browser.retry_delay(attempt, rng) for attempt in range(8)]
    for attempt, delay in enumerate(delays):
        base = browser.RETRY_DELAYS_S[min(attempt, len(browser.RETRY_DELAYS_S) - 1)]
        assert base * 0.8 <= delay <= base * 1.2
