"""When to check a camera next (pure).

Healthy cameras are checked every interval at a stable phase of their own, so 20,000 cameras
spread evenly over the interval instead of arriving together at start-up or on the minute.
Offline cameras are checked less and less often (exponential backoff with jitter, up to a
ceiling), and a camera that rejected our credentials is left alone for a long while: cameras
lock accounts after a few failed logins (Hikvision: 7 tries then 30 min lock by default; Dahua
similar), and hammering a locked account keeps it locked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BackoffRules:
    interval_s: float = 30.0
    offline_after: int = 3  # failures before backoff starts (hysteresis confirms first)
    max_delay_s: float = 300.0
    auth_delay_s: float = 1800.0
    jitter: float = 0.1  # ± fraction of the delay


def phase_s(camera_id: str, interval_s: float) -> float:
    """A stable offset in [0, interval_s) for this camera: the same on every start."""
    digest = hashlib.blake2b(camera_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * interval_s


def next_delay_s(
    rules: BackoffRules, *, failures_in_a_row: int, auth_failures_in_a_row: int, rand: float
) -> float:
    """Seconds until the next check.  ``rand`` is uniform in [0, 1) (given, so tests pin it).

    Healthy, and during the first ``offline_after`` failures (so going offline is confirmed
    in time): one interval, no jitter (the phase stays put).  Then interval × 2^k, capped at
    ``max_delay_s``, ± jitter.  Credentials rejected ``offline_after`` times in a row (enough
    to be sure, few enough not to lock the account): ``auth_delay_s`` ± jitter.
    """
    if auth_failures_in_a_row >= rules.offline_after:
        return rules.auth_delay_s * (1 + rules.jitter * (2 * rand - 1))
    extra = failures_in_a_row - rules.offline_after
    if extra < 0:
        return rules.interval_s
    delay: float = min(rules.interval_s * 2.0 ** min(extra + 1, 30), rules.max_delay_s)
    delay = max(delay, rules.interval_s)
    return delay * (1 + rules.jitter * (2 * rand - 1))
