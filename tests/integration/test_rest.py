"""HTTP endpoints: registration, the agenda, health, moderator actions for scripts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from signaling import protocol as p
from signaling.auth import verify_token

from .conftest import Running


async def test_register_returns_an_attendee_token(running: Running) -> None:
    resp = await running.http.post(
        f"{running.url}/api/register", json={"name": "Zoë", "interests": ["health"]}
    )
    assert resp.status == 200
    body = await resp.json()
    identity = verify_token(running.config.resolve_secret(), body["token"])
    assert identity.role == "attendee" and identity.name == "Zoë"
    assert identity.participant_id == body["participant_id"]


async def test_register_rejects_bad_bodies(running: Running) -> None:
    url = f"{running.url}/api/register"
    for body, status, code in [
        (b"{", 400, "bad_request"),
        (b'{"name": ""}', 400, "invalid"),
        (b'{"name": "   "}', 400, "invalid"),
        (b'{"name": 5}', 400, "invalid"),
        (b'{"name": "' + b"n" * 100 + b'"}', 400, "invalid"),
        (b'{"name": "ok", "role": "moderator"}', 400, "invalid"),
        (b'{"name": "' + b"n" * 70000 + b'"}', 413, "too_large"),
    ]:
        resp = await running.http.post(url, data=body, headers={"Content-Type": "application/json"})
        assert resp.status == status, body[:40]
        assert (await resp.json())["error"]["code"] == code


async def test_agenda_lists_spaces_with_live_counts(running: Running) -> None:
    alice = await running.client("Alice")
    await alice.request(p.Join(space_id="booth-12"))
    body = await (await running.http.get(f"{running.url}/api/event")).json()
    assert body["event"]["title"]
    spaces = {s["id"]: s for s in body["spaces"]}
    assert len([s for s in spaces.values() if s["kind"] == "booth"]) == 20
    assert spaces["booth-12"]["participants"] == 1
    assert spaces["booth-12"]["capacity"] == 12
    assert spaces["booth-12"]["description"]
    assert spaces["main-stage"]["kind"] == "stage"
    deep = [s["title"] for s in spaces.values() if s["id"].startswith("deep-")]
    assert len(deep) == 5
    for key in ("id", "kind", "title", "description", "participants", "capacity"):
        assert all(key in s for s in body["spaces"])
    health = await (await running.http.get(f"{running.url}/healthz")).json()
    assert health["status"] == "ok" and health["sessions"] == 1


async def test_moderator_actions_over_rest(running: Running) -> None:
    guest = await running.client("Guest")
    await guest.request(p.Join(space_id="main-stage"))
    await guest.request(p.RaiseHand())
    url = f"{running.url}/api/moderate/promote"
    body = {"participant_id": guest.participant_id}
    resp = await running.http.post(url, json=body)
    assert resp.status == 401
    resp = await running.http.post(
        url, json=body, headers={"Authorization": f"Bearer {guest.token}"}
    )
    assert resp.status == 403
    mod = {"Authorization": f"Bearer {running.token('Script', 'moderator')}"}
    resp = await running.http.post(url, json={"participant_id": 7}, headers=mod)
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "participant_id"
    resp = await running.http.post(f"{running.url}/api/moderate/launch", json={}, headers=mod)
    assert resp.status == 404
    resp = await running.http.post(url, json=body, headers=mod)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["result"]["slot"] == 0
    await guest.until(lambda: guest.slot_occupants()[:1] == [guest.participant_id])
    resp = await running.http.post(
        f"{running.url}/api/moderate/move_participant",
        json={"participant_id": guest.participant_id, "space_id": "booth-01"},
        headers=mod,
    )
    assert resp.status == 200
    moved = await guest.wait_for(p.Moved, seen=True)
    assert moved.space_id == "booth-01" and moved.by is None
    await guest.until(lambda: guest.space_id == "booth-01")


def test_token_command_prints_a_moderator_token(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "signaling.cli",
            "token",
            "--role",
            "moderator",
            "--name",
            "Mod",
            "--secret-file",
            str(secret_file),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    identity = verify_token(secret_file.read_text().strip(), out)
    assert identity.role == "moderator" and identity.name == "Mod"
    assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
