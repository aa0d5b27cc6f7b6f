"""Check cadence: stable phases, exponential backoff with jitter, hard auth backoff."""

from __future__ import annotations

import pytest

from bridge.backoff import BackoffRules, next_delay_s, phase_s

RULES = BackoffRules(interval_s=30, offline_after=3, max_delay_s=300, auth_delay_s=1800)


def test_phase_is_stable_and_spread() -> None:
    ids = [f"4199010001132600{n:04d}" for n in range(2000)]
    phases = [phase_s(i, 30) for i in ids]
    assert phases == [phase_s(i, 30) for i in ids]
    assert all(0 <= p < 30 for p in phases)
    buckets = [0] * 10
    for p in phases:
        buckets[int(p // 3)] += 1
    assert min(buckets) > 150  # roughly uniform: no herd


def test_healthy_and_confirming_use_the_interval() -> None:
    for failures in (0, 1, 2):
        delay = next_delay_s(RULES, failures_in_a_row=failures, auth_failures_in_a_row=0, rand=0.9)
        assert delay == 30


@pytest.mark.parametrize(("failures", "base"), [(3, 60), (4, 120), (5, 240), (6, 300), (40, 300)])
def test_offline_backs_off_to_a_ceiling(failures: int, base: float) -> None:
    mid = next_delay_s(RULES, failures_in_a_row=failures, auth_failures_in_a_row=0, rand=0.5)
    assert mid == pytest.approx(base)
    low = next_delay_s(RULES, failures_in_a_row=failures, auth_failures_in_a_row=0, rand=0.0)
    high = next_delay_s(RULES, failures_in_a_row=failures, auth_failures_in_a_row=0, rand=0.999)
    assert low == pytest.approx(base * 0.9)
    assert high == pytest.approx(base * 1.1, rel=1e-3)


def test_auth_failures_back_off_hard_after_confirmation() -> None:
    assert next_delay_s(RULES, failures_in_a_row=0, auth_failures_in_a_row=2, rand=0.5) == 30
    delay = next_delay_s(RULES, failures_in_a_row=0, auth_failures_in_a_row=3, rand=0.5)
    assert delay == pytest.approx(1800)
