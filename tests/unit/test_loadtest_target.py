"""Load tests only ever target this machine."""

from __future__ import annotations

import pytest

from loadtest.target import TargetError, check_loopback_url, free_port


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("ws://127.0.0.1:9000/ws", "http://127.0.0.1:9000"),
        ("wss://localhost:8443", "https://localhost:8443"),
        ("http://127.1.2.3:81", "http://127.1.2.3:81"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("http://LOCALHOST", "http://localhost"),
    ],
)
def test_loopback_urls_are_accepted(url: str, expected: str) -> None:
    assert check_loopback_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8080",
        "http://192.168.1.1",
        "http://0.0.0.0:8080",
        "http://example.com",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
        "http://[::ffff:8.8.8.8]:80",
        "https://8.8.8.8",
    ],
)
def test_other_hosts_are_refused(url: str) -> None:
    with pytest.raises(TargetError, match="this machine"):
        check_loopback_url(url)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1", "127.0.0.1:8080", "http://", ""])
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(TargetError):
        check_loopback_url(url)


def test_free_port_is_usable() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
