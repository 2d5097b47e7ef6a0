"""Token buckets that keep one client from flooding the others."""

from __future__ import annotations

from signaling.config import RateLimit


class TokenBucket:
    """Allows ``rate`` actions per second on average and bursts of up to ``burst``."""

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self._rate = limit.rate
        self._burst = limit.burst
        self._tokens = limit.burst
        self._stamp = now

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if there are enough; report whether the action may go ahead."""
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False

    def retry_after(self, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens will be available again."""
        missing = cost - self._tokens
        return max(0.0, missing / self._rate) if self._rate > 0 else float("inf")
