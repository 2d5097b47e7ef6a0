"""A real headless Chromium through the SFU: it publishes its fake camera (a solid
colour) to a Python subscriber, and plays Python bots' colours through one slot that is
re-pointed with no renegotiation."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sfu_peers import Publisher, Subscriber, near, wait_for

from sfu import Worker

pytestmark = [pytest.mark.browser, pytest.mark.media]

CHROMIUM = Path("/usr/lib/chromium/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
RED = (220, 40, 40)
BLUE = (40, 40, 220)
GREEN = (40, 200, 40)

PAGE = """<!doctype html>
<html><body>
<video id="v0" autoplay muted playsinline></video>
<video id="v1" autoplay muted playsinline></video>
<canvas id="c" width="64" height="48"></canvas>
<script>
const videos = {};
window.negotiations = 0;
async function gathered(pc) {
  if (pc.iceGatheringState === "complete") return;
  await new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 3000);
  });
}
async function post(path, body) {
  const r = await fetch(path, {method: "POST", body: JSON.stringify(body)});
  return r.json();
}
async function join() {
  const stream = await navigator.mediaDevices.getUserMedia({video: true, audio: true});
  const pub = new RTCPeerConnection({iceServers: []});
  for (const t of stream.getTracks()) pub.addTransceiver(t, {direction: "sendonly"});
  await pub.setLocalDescription(await pub.createOffer());
  await gathered(pub);
  const joined = await post("/join", {sdp: pub.localDescription.sdp});
  await pub.setRemoteDescription({type: "answer", sdp: joined.answer});
  const sub = new RTCPeerConnection({iceServers: []});
  window.sub = sub;
  sub.ontrack = (e) => {
    const slot = joined.slots[e.transceiver.mid];
    if (slot && videos[slot] === undefined && e.track.kind === "video") {
      const el = document.getElementById(slot);
      el.srcObject = new MediaStream([e.track]);
      videos[slot] = el;
    }
  };
  window.negotiations += 1;
  await sub.setRemoteDescription({type: "offer", sdp: joined.offer});
  await sub.setLocalDescription(await sub.createAnswer());
  await gathered(sub);
  await post("/answer", {sdp: sub.localDescription.sdp});
  return true;
}
window.pixel = (slot) => {
  const el = videos[slot];
  if (!el || el.videoWidth === 0) return null;
  const c = document.getElementById("c");
  const ctx = c.getContext("2d");
  ctx.drawImage(el, 0, 0, c.width, c.height);
  return Array.from(ctx.getImageData(32, 24, 1, 1).data.slice(0, 3));
};
window.framesDecoded = async () => {
  const out = {};
  (await window.sub.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") out[s.mid] = s.framesDecoded || 0;
  });
  return out;
};
window.audioPackets = async () => {
  let total = 0;
  (await window.sub.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") total += s.packetsReceived || 0;
  });
  return total;
};
window.joined = join();
</script>
</body></html>
"""


def _y4m(path: Path, rgb: tuple[int, int, int]) -> None:
    r, g, b = rgb
    y = round(0.299 * r + 0.587 * g + 0.114 * b)
    u = round(-0.168736 * r - 0.331264 * g + 0.5 * b + 128)
    v = round(0.5 * r - 0.418688 * g - 0.081312 * b + 128)
    w, h = 320, 240
    frame = (
        b"FRAME\n" + bytes([y]) * (w * h) + bytes([u]) * (w * h // 4) + bytes([v]) * (w * h // 4)
    )
    path.write_bytes(f"YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n".encode() + frame * 5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def page(worker: Worker, tmp_path: Path) -> AsyncIterator[Any]:
    if not HAVE_CHROMIUM:
        pytest.skip("chromium is not installed")
    playwright_api = pytest.importorskip("playwright.async_api")
    slots_by_mid: dict[str, str] = {}

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def join(request: web.Request) -> web.Response:
        body = await request.json()
        result = await worker.create_endpoint("browser", body["sdp"], video_slots=2, audio_slots=1)
        for slot in result.slots:
            if slot.mid is not None:
                slots_by_mid[slot.mid] = slot.slot_id
        return web.json_response(
            {
                "answer": result.publish_answer_sdp,
                "offer": result.subscribe_offer_sdp,
                "slots": slots_by_mid,
            }
        )

    async def answer(request: web.Request) -> web.Response:
        body = await request.json()
        await worker.set_subscribe_answer("browser", body["sdp"])
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_post("/join", join)
    app.router.add_post("/answer", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    y4m = tmp_path / "green.y4m"
    _y4m(y4m, GREEN)
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={y4m}",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--allow-loopback-in-peer-connection",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        try:
            tab = await browser.new_page()
            await tab.goto(f"http://127.0.0.1:{port}/")
            assert await tab.evaluate("window.joined")
            yield tab
        finally:
            await browser.close()
            await runner.cleanup()


async def _pixel(tab: Any, slot: str) -> tuple[int, int, int] | None:
    value = await tab.evaluate(f"window.pixel({json.dumps(slot)})")
    return tuple(int(x) for x in value) if value else None  # type: ignore[return-value]


async def _wait_colour(tab: Any, slot: str, rgb: tuple[int, int, int], within: float) -> None:
    seen: list[Any] = [None]

    async def check() -> bool:
        seen[0] = await _pixel(tab, slot)
        return near(seen[0], rgb, tol=45)

    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{slot} shows {seen[0]}, not {rgb}")
        await asyncio.sleep(0.05)


async def test_chromium_plays_bots_through_a_repointed_slot(worker: Worker, page: Any) -> None:
    a = Publisher("alice", RED)
    b = Publisher("bob", BLUE)
    try:
        await a.join(worker)
        await b.join(worker)
        worker.set_routing("browser", {"v0": "alice:video", "a0": "alice:audio"})
        await _wait_colour(page, "v0", RED, 15)
        worker.set_routing("browser", {"v0": "bob:video"})
        await _wait_colour(page, "v0", BLUE, 10)
        before = await page.evaluate("window.framesDecoded()")
        worker.set_routing("browser", {"v0": "alice:video"})
        await _wait_colour(page, "v0", RED, 10)

        async def played_on() -> bool:
            now = await page.evaluate("window.framesDecoded()")
            return sum(now.values()) >= sum(before.values()) + 20

        deadline = time.monotonic() + 10
        while not await played_on():
            assert time.monotonic() < deadline, "the browser stopped decoding"
            await asyncio.sleep(0.1)
        audio = await page.evaluate("window.audioPackets()")
        deadline = time.monotonic() + 10
        while await page.evaluate("window.audioPackets()") < audio + 25:
            assert time.monotonic() < deadline, "no audio reaches the browser"
            await asyncio.sleep(0.1)
        assert await page.evaluate("window.negotiations") == 1
        assert await page.evaluate("window.sub.signalingState") == "stable"
    finally:
        await a.close()
        await b.close()


async def test_chromium_camera_reaches_a_python_subscriber(worker: Worker, page: Any) -> None:
    s = Subscriber("sam")
    try:
        await s.join(worker, video_slots=1, audio_slots=1)
        assert {i.source_id for i in worker.sources("browser")} == {
            "browser:video",
            "browser:audio",
        }
        worker.set_routing("sam", {"v0": "browser:video", "a0": "browser:audio"})
        await wait_for(lambda: near(s.slot_colour("v0"), GREEN, tol=45), 15, "chromium's green")
        await wait_for(lambda: s.packets("a0") > 25, 10, "chromium's audio")
        stats = worker.stats()["endpoints"]["browser"]  # type: ignore[index]
        assert stats["rx_errors"] == 0  # type: ignore[index]
        assert stats["unknown_packets"] == 0  # type: ignore[index]
    finally:
        await s.close()


async def test_chromium_repairs_loss_with_our_retransmissions(worker: Worker, page: Any) -> None:
    a = Publisher("alice", RED)
    try:
        await a.join(worker)
        worker.set_routing("browser", {"v0": "alice:video"})
        await _wait_colour(page, "v0", RED, 15)
        # Fault injection inside the SFU: drop 8 % of what it sends on v0 (first
        # transmissions only, retransmissions go through).
        slot = worker._endpoint("browser").slots["v0"]
        inner = [slot.send]
        rng = random.Random(5)
        dropped: list[int] = []

        def lossy(packet: bytes) -> bool:
            if int.from_bytes(packet[8:12], "big") == slot.ssrc and rng.random() < 0.08:
                dropped.append(int.from_bytes(packet[2:4], "big"))
                return True
            return inner[0](packet)

        def install() -> None:
            # The transport re-binds the slot's sender when ICE selects another pair,
            # which Chromium's extra candidates can cause: put the fault back in front.
            if slot.send is not lossy:
                inner[0] = slot.send
                slot.send = lossy

        packets = slot.packets
        deadline = time.monotonic() + 15
        while len(dropped) < 5:
            install()
            assert time.monotonic() < deadline, (
                f"not enough packets went through v0: {slot.packets - packets} sent, "
                f"{len(dropped)} dropped"
            )
            await asyncio.sleep(0.05)
        slot.send = inner[0]
        stats_js = """async () => {
          let out = null;
          (await window.sub.getStats()).forEach((s) => {
            if (s.type === "inbound-rtp" && s.kind === "video" && s.packetsReceived > 0)
              out = {nacks: s.nackCount, lost: s.packetsLost, frames: s.framesDecoded,
                     rtx: s.retransmittedPacketsReceived, received: s.packetsReceived};
          });
          return out;
        }"""
        deadline = time.monotonic() + 10
        while True:
            stats = await page.evaluate(stats_js)
            # Chromium asked for every lost packet and got each one back as RTX (it
            # counts those apart: packetsLost stays, retransmittedPacketsReceived grows).
            if stats and stats["nacks"] >= len(dropped) and stats["rtx"] >= len(dropped):
                break
            assert time.monotonic() < deadline, (
                f"chromium did not recover: {stats}, sfu nacks {slot.nacks} "
                f"retransmitted {slot.retransmitted}, dropped {dropped}"
            )
            await asyncio.sleep(0.1)
        assert slot.retransmitted >= len(dropped)
        frames = stats["frames"]
        deadline = time.monotonic() + 5
        while (await page.evaluate(stats_js))["frames"] < frames + 15:
            assert time.monotonic() < deadline, "chromium stopped decoding"
            await asyncio.sleep(0.1)
        await _wait_colour(page, "v0", RED, 5)
    finally:
        await a.close()
