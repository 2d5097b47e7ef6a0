"""Pure units of the server: token buckets, tokens, settings."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from signaling.auth import TokenError, issue_token, verify_token
from signaling.config import Config, RateLimit
from signaling.server.ratelimit import TokenBucket


def test_token_bucket_allows_bursts_then_the_rate() -> None:
    bucket = TokenBucket(RateLimit(rate=5, burst=10), now=0.0)
    assert sum(bucket.take(0.0) for _ in range(20)) == 10
    assert not bucket.take(0.1)
    assert bucket.retry_after() == pytest.approx(0.1, abs=0.01)
    assert bucket.take(0.2)  # 0.2 s at 5/s refills one token
    assert not bucket.take(0.2)
    assert sum(bucket.take(100.0) for _ in range(20)) == 10  # never more than the burst


def test_tokens_round_trip_and_expire() -> None:
    start = time.time()
    token = issue_token("s" * 40, "p-1", "Ana", "moderator", ttl_s=60, now=start)
    identity = verify_token("s" * 40, token, now=start + 30)
    assert (identity.participant_id, identity.name, identity.role) == ("p-1", "Ana", "moderator")
    with pytest.raises(TokenError, match="expired"):
        verify_token("s" * 40, token, now=start + 61)
    with pytest.raises(TokenError):
        verify_token("t" * 40, token, now=start + 30)
    old = issue_token("s" * 40, "p-1", "Ana", "moderator", ttl_s=60, now=start - 120)
    with pytest.raises(TokenError, match="expired"):
        verify_token("s" * 40, old)
    with pytest.raises(ValueError):
        issue_token("s" * 40, "p-1", "Ana", "king", ttl_s=60)  # type: ignore[arg-type]


def test_config_reads_the_environment(tmp_path: Path) -> None:
    config = Config.from_env(
        {
            "PODIUM_PORT": "9000",
            "PODIUM_DEMO": "false",
            "PODIUM_ALLOWED_ORIGINS": "http://a.test, http://b.test",
            "PODIUM_FLUSH_INTERVAL_S": "0.5",
        },
        host="0.0.0.0",
    )
    assert config.port == 9000 and config.demo is False and config.host == "0.0.0.0"
    assert config.allowed_origins == ("http://a.test", "http://b.test")
    assert config.flush_interval_s == 0.5


def test_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "secret"
    first = Config(secret_file=str(path)).resolve_secret()
    second = Config(secret_file=str(path)).resolve_secret()
    assert first == second and len(first) >= 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert Config(secret="given").resolve_secret() == "given"
