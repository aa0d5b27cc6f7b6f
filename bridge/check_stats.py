"""What the monitor counts per cheap check for /metrics: its duration, its outcome, each
layer's outcome (docs/metrics.md).

On the hot path (every check of every camera), so it does as little as it can: one
histogram observation (prometheus_client's own, so buckets and sums are right) and a few
integer increments in plain dicts, read at scrape time by `bridge.metrics`.  Not registered
anywhere by itself: `bridge.metrics.build_metrics` puts it in the daemon's registry.
"""

from __future__ import annotations

from collections import Counter

from prometheus_client import Histogram

from bridge.observation import Observation

__all__ = ["CHECK_BUCKETS_S", "LAYERS", "CheckStats"]

LAYERS = ("rtsp_tcp", "onvif_tcp", "rtsp", "onvif_time", "onvif_auth")
"""The check layers of an `Observation`, as the ``layer`` label says them."""

# A healthy camera answers in 2-300 ms; a dead one takes a layer's whole timeout (seconds).
CHECK_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class CheckStats:
    """Counts of the cheap checks since the process started.

    ``checks``: ``ok`` when every layer that ran answered, else ``failed``.  ``layers``:
    ``(layer, result)`` → count, where result is ``ok`` or the adapters' error code
    (``unreachable``, ``timeout``, ``auth_failed``, ``protocol``).
    """

    def __init__(self, buckets_s: tuple[float, ...] = CHECK_BUCKETS_S) -> None:
        self.duration = Histogram(
            "gridbridge_check_duration_seconds",
            "Duration of one cheap check of one camera (all its layers), seconds.",
            buckets=buckets_s,
            registry=None,
        )
        self.checks = {"ok": 0, "failed": 0}
        self.layers: Counter[tuple[str, str]] = Counter()

    def observe(self, obs: Observation, duration_s: float) -> None:
        """Count one check: what its layers saw (as the checker returned it, before the
        monitor fills in earlier ONVIF answers) and how long it took."""
        self.duration.observe(duration_s)
        failed = False
        layers = self.layers
        for layer in LAYERS:
            result = getattr(obs, layer)
            if result is None:
                continue
            if result.ok:
                layers[layer, "ok"] += 1
            else:
                failed = True
                layers[layer, result.error or "failed"] += 1
        self.checks["failed" if failed else "ok"] += 1
