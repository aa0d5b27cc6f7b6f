"""Rate limits for workstation requests: token buckets per camera, per client and in all.

A request for a snapshot or a re-check costs the daemon real work (a frame grab, a probe of
a camera that may lock accounts after a few logins), so each camera, each asking client and
the bridge as a whole get a bucket.  A request is let through only when every bucket it
touches has a token; then it takes one from each (a refused request costs nothing).

Pure: the time comes from the caller (monotonic seconds), so tests use a fake clock.
Memory is bounded: at most ``max_keys`` buckets per kind; past that, the least recently
used bucket is forgotten (its key starts again with a full bucket).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

__all__ = [
    "DEFAULT_MAX_KEYS",
    "RateLimit",
    "RequestLimits",
    "RequestRateLimiter",
    "TokenBuckets",
]

DEFAULT_MAX_KEYS = 50_000  # > 20,000 cameras of a district, with room for clients


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate_per_s`` tokens per second refill a bucket of ``burst`` tokens."""

    rate_per_s: float
    burst: float

    def __post_init__(self) -> None:
        if not self.rate_per_s > 0:
            raise ValueError(f"rate_per_s must be > 0, not {self.rate_per_s!r}")
        if not self.burst >= 1:
            raise ValueError(f"burst must be ≥ 1, not {self.burst!r}")


class TokenBuckets:
    """One token bucket per key, all with the same `RateLimit`."""

    def __init__(self, limit: RateLimit, *, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.limit = limit
        self._max_keys = max_keys
        # key → (tokens, time of that count); oldest use first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def tokens(self, key: str, now: float) -> float:
        """The tokens ``key`` has at ``now`` (a full bucket for an unknown key)."""
        state = self._buckets.get(key)
        if state is None:
            return self.limit.burst
        tokens, at = state
        return min(self.limit.burst, tokens + max(0.0, now - at) * self.limit.rate_per_s)

    def has_token(self, key: str, now: float) -> bool:
        """Whether ``key`` could take a token at ``now`` (nothing is taken)."""
        return self.tokens(key, now) >= 1.0

    def take(self, key: str, now: float) -> None:
        """Take one token from ``key`` at ``now`` (the count may not go below zero)."""
        left = max(0.0, self.tokens(key, now) - 1.0)
        self._buckets[key] = (left, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)

    def allow(self, key: str, now: float) -> bool:
        """Take a token from ``key`` when it has one; True when it did."""
        if not self.has_token(key, now):
            return False
        self.take(key, now)
        return True

    def retry_after_s(self, key: str, now: float) -> float:
        """Seconds until ``key`` has a token again (0 when it has one now)."""
        missing = 1.0 - self.tokens(key, now)
        return max(0.0, missing / self.limit.rate_per_s)


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """The limits of workstation requests (defaults: generous for people, tight for loops).

    ``per_camera``: one camera cannot be asked more than this (a re-check is a login).
    ``per_client``: one asking client (MQTT 5 user property ``client`` or the request's
    ``client`` field; clients naming none share one bucket).  ``total``: the whole bridge.
    ``refusals``: "rate limited" answers; past it refused requests are dropped unanswered.
    """

    per_camera: RateLimit = RateLimit(rate_per_s=0.2, burst=3)
    per_client: RateLimit = RateLimit(rate_per_s=2.0, burst=20)
    total: RateLimit = RateLimit(rate_per_s=20.0, burst=100)
    refusals: RateLimit = RateLimit(rate_per_s=5.0, burst=20)


class RequestRateLimiter:
    """Admits or refuses requests by camera and client, against `RequestLimits`; and
    limits the error responses to refused requests (a flood must not be answered in full:
    each answer is a publish)."""

    TOTAL_KEY = ""

    def __init__(self, limits: RequestLimits, *, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self.limits = limits
        self._camera = TokenBuckets(limits.per_camera, max_keys=max_keys)
        self._client = TokenBuckets(limits.per_client, max_keys=max_keys)
        self._total = TokenBuckets(limits.total, max_keys=1)
        self._refusals = TokenBuckets(limits.refusals, max_keys=1)

    def admit(self, camera_id: str | None, client: str, now: float) -> str | None:
        """None when the request may go ahead (a token is then taken from each of its
        buckets); otherwise which limit refused it: ``"total"``, ``"client"`` or
        ``"camera"`` (and nothing is taken).  ``camera_id`` None (a malformed request,
        which will not reach the camera): only the total and client limits apply."""
        checks = [("total", self._total, self.TOTAL_KEY), ("client", self._client, client)]
        if camera_id is not None:
            checks.append(("camera", self._camera, camera_id))
        for name, buckets, key in checks:
            if not buckets.has_token(key, now):
                return name
        for _, buckets, key in checks:
            buckets.take(key, now)
        return None

    def may_answer_refusal(self, now: float) -> bool:
        """Whether a refused request may still get its "rate limited" answer (takes a
        token of the refusals bucket when it may)."""
        return self._refusals.allow(self.TOTAL_KEY, now)
