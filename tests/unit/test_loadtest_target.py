"""The target of a load test: any server URL the operator names, normalised."""

from __future__ import annotations

import pytest

from loadtest.target import TargetError, free_port, is_loopback_url, target_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("ws://127.0.0.1:9000/ws", "http://127.0.0.1:9000"),
        ("wss://localhost:8443", "https://localhost:8443"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("http://LOCALHOST", "http://localhost"),
        ("https://podium.example.org/event", "https://podium.example.org"),
        ("wss://198.18.0.2:8443/ws", "https://198.18.0.2:8443"),
    ],
)
def test_urls_become_base_urls(url: str, expected: str) -> None:
    assert target_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://127.0.0.1", "127.0.0.1:8080", "http://", "", "http://h:x"])
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(TargetError):
        target_url(url)


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://127.1.2.3", True),
        ("http://[::1]:80", True),
        ("http://localhost", True),
        ("http://localhost.example.com", False),
        ("http://10.0.0.5:8080", False),
        ("http://[::ffff:8.8.8.8]:80", False),
    ],
)
def test_loopback_is_told_apart(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_free_port_is_usable() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
