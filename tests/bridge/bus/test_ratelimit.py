"""Token buckets for requests, with a fake clock (plain numbers)."""

from __future__ import annotations

import pytest

from bridge.bus.ratelimit import RateLimit, RequestLimits, RequestRateLimiter, TokenBuckets


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    buckets = TokenBuckets(RateLimit(rate_per_s=0.5, burst=3))
    assert [buckets.allow("cam", 0.0) for _ in range(4)] == [True, True, True, False]
    assert buckets.retry_after_s("cam", 0.0) == pytest.approx(2.0)
    assert not buckets.allow("cam", 1.9)
    assert buckets.allow("cam", 2.0)
    assert buckets.tokens("cam", 1000.0) == 3  # never above the burst
    assert buckets.allow("other", 0.0)  # keys are independent


def test_refused_requests_cost_nothing() -> None:
    buckets = TokenBuckets(RateLimit(rate_per_s=1.0, burst=1))
    assert buckets.allow("k", 0.0)
    for _ in range(100):
        assert not buckets.allow("k", 0.5)
    assert buckets.allow("k", 1.0)


def test_memory_is_bounded_by_forgetting_the_least_recently_used() -> None:
    buckets = TokenBuckets(RateLimit(1.0, 1), max_keys=3)
    for n, key in enumerate("abcd"):
        buckets.take(key, float(n))
    assert len(buckets) == 3
    assert buckets.tokens("a", 3.0) == 1  # forgotten: full again
    assert buckets.tokens("d", 3.0) == 0


def test_the_limiter_takes_from_every_bucket_or_from_none() -> None:
    limits = RequestLimits(
        per_camera=RateLimit(0.01, 1),
        per_client=RateLimit(0.01, 2),
        total=RateLimit(0.01, 3),
        refusals=RateLimit(0.01, 1),
    )
    limiter = RequestRateLimiter(limits)
    assert limiter.admit("c1", "ws1", 0.0) is None
    assert limiter.admit("c1", "ws2", 0.0) == "camera"  # ws2's token not taken
    assert limiter.admit("c2", "ws2", 0.0) is None
    assert limiter.admit("c3", "ws2", 0.0) is None  # ws2 still had both its tokens
    assert limiter.admit("c4", "ws3", 0.0) == "total"
    assert limiter.admit(None, "ws4", 0.0) == "total"
    assert limiter.may_answer_refusal(0.0)
    assert not limiter.may_answer_refusal(0.0)  # a flood gets no flood of answers
    assert limiter.admit("c4", "ws3", 1000.0) is None


def test_malformed_requests_do_not_use_the_cameras_bucket() -> None:
    limiter = RequestRateLimiter(RequestLimits(per_camera=RateLimit(0.01, 1)))
    assert limiter.admit(None, "ws", 0.0) is None
    assert limiter.admit("c1", "ws", 0.0) is None


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        RateLimit(0, 1)
    with pytest.raises(ValueError, match="burst"):
        RateLimit(1, 0.5)
