"""Media workers on another machine: ``podium sfu --connect`` registers with the server.

The "other machine" is a separate process tree on loopback: the server's own worker and a
registered one carry one participant each, meeting through an encrypted pipe; when the
registered worker's processes die, its participant comes back on the server's own worker.
The channel is TLS with a certificate made for the test.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.target import free_port
from signaling import protocol as p
from signaling.config import Config

from .conftest import Running, server_config
from .media_bots import started

pytestmark = pytest.mark.media

ROOT = Path(__file__).resolve().parents[2]
RED = (230, 30, 30)
TOKEN = "a-token-for-media-workers"


@pytest.fixture
def listen_port() -> int:
    return free_port()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "podium media registry")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "registry.pem", tmp_path / "registry.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def config(tmp_path: Path, listen_port: int, certificate: tuple[Path, Path]) -> Config:
    return server_config(
        tmp_path,
        media_workers=1,
        media_listen=f"127.0.0.1:{listen_port}",
        media_token=TOKEN,
        media_tls_cert=str(certificate[0]),
        media_tls_key=str(certificate[1]),
    )


@pytest.fixture
def remote_sfu(
    listen_port: int, certificate: tuple[Path, Path]
) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable,
        "-m",
        "signaling.cli",
        "sfu",
        "--connect",
        f"127.0.0.1:{listen_port}",
        "--token",
        TOKEN,
        "--workers",
        "1",
        "--announce-addresses",
        "127.0.0.1",
        "--name",
        "far",
        "--tls-ca",
        str(certificate[0]),
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def test_a_registered_worker_carries_participants_and_its_loss_is_survived(
    running: Running, remote_sfu: subprocess.Popen[bytes]
) -> None:
    media = running.hub.media
    assert media is not None
    deadline = time.monotonic() + 20
    while not any(w.remote and w.port.alive for w in media.workers):
        assert remote_sfu.poll() is None, "podium sfu exited"
        assert time.monotonic() < deadline, "the remote worker never registered"
        await asyncio.sleep(0.1)

    speaker = await started(await running.client("Speaker", "speaker"), RED)
    viewer = await started(await running.client("Viewer"), None)
    try:
        for bot in (speaker, viewer):
            await bot.client.request(p.Join(space_id="main-stage"))
        await viewer.wait_until(lambda: viewer.sees(speaker.participant_id, RED))
        remote = next(w for w in media.workers if w.remote)
        local = next(w for w in media.workers if not w.remote)
        # One participant on each machine's worker, the speaker piped across, encrypted.
        assert len(remote.endpoints) == 1 and len(local.endpoints) == 1
        stats = await media.stats()
        pipes = [pipe for part in stats.values() for pipe in part["pipes"].values()]
        assert len(pipes) == 2 and all(pipe["encrypted"] for pipe in pipes)
        assert sum(pipe["received"] for pipe in pipes) > 0
        assert all(pipe["rejected"] == 0 for pipe in pipes)

        on_remote = speaker if speaker.participant_id in remote.endpoints else viewer
        restarts = on_remote.restarts
        remote_sfu.send_signal(signal.SIGKILL)
        await viewer.wait_until(lambda: on_remote.restarts > restarts, within=10)
        await viewer.wait_until(lambda: viewer.sees(speaker.participant_id, RED), within=10)
        # Nobody replaces another machine's worker: both now live on the server's own.
        assert all(not w.remote for w in media.workers if w.port.alive)
        assert len(local.endpoints) == 2
    finally:
        for bot in (speaker, viewer):
            await bot.close()


async def _sfu(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "signaling.cli", "sfu", "--workers", "1", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


async def test_a_worker_with_the_wrong_token_or_without_tls_is_refused(
    listen_port: int, certificate: tuple[Path, Path], running: Running
) -> None:
    address = f"127.0.0.1:{listen_port}"
    wrong = await _sfu(
        "--connect", address, "--token", "not-the-token", "--tls-ca", str(certificate[0])
    )
    assert wrong.returncode == 1
    assert "wrong token" in wrong.stderr
    # Plain TCP to a TLS registry: no hello gets through, the token never crosses in clear.
    plain = await _sfu("--connect", address, "--token", TOKEN)
    assert plain.returncode != 0
    assert running.hub.media is not None
    assert not any(w.remote for w in running.hub.media.workers)
