"""Per-camera baselines: what a camera's healthy picture usually measures (pure).

A camera that is always a little soft, faces a plain wall or looks at a yellow building is
judged against itself, not against an ideal picture.  Day (colour) and infrared night
pictures are learned apart: the same camera is softer, flatter and noisier in IR.  Values
are running means over the first ``baseline_window`` samples, then an exponential moving
average with the same window, so slow changes (seasons, foliage) are followed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from health.vqd_metrics import GRID, Metrics
from health.vqd_rules import VqdRules

__all__ = ["Baseline", "Profile", "learn"]

_CELLS = GRID[0] * GRID[1]
_SCALARS = (
    "brightness",
    "contrast",
    "sharpness",
    "noise",
    "edge_density",
    "chroma_a",
    "chroma_b",
    "uniform",
)
_GRIDS = ("cells_texture", "cells_sharpness", "cells_mean")
_MAX_VALUE = 1e9  # no metric comes near; larger numbers in a stored baseline are garbage


@dataclass(frozen=True, slots=True)
class Profile:
    """Learned values for one kind of picture (colour day picture or IR night picture)."""

    samples: int
    brightness: float
    contrast: float
    sharpness: float
    noise: float
    edge_density: float
    chroma_a: float
    chroma_b: float
    uniform: float
    cells_texture: tuple[float, ...]
    cells_sharpness: tuple[float, ...]
    cells_mean: tuple[float, ...]

    @classmethod
    def first(cls, metrics: Metrics) -> Profile:
        values = {name: getattr(metrics, name) for name in _SCALARS + _GRIDS}
        return cls(samples=1, **values)

    def updated(self, metrics: Metrics, window: int) -> Profile:
        rate = 1.0 / min(self.samples + 1, window)
        changes: dict[str, Any] = {"samples": self.samples + 1}
        for name in _SCALARS:
            old = getattr(self, name)
            changes[name] = old + rate * (getattr(metrics, name) - old)
        for name in _GRIDS:
            olds, news = getattr(self, name), getattr(metrics, name)
            changes[name] = tuple(o + rate * (n - o) for o, n in zip(olds, news, strict=True))
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"samples": self.samples}
        for name in _SCALARS:
            out[name] = round(getattr(self, name), 5)
        for name in _GRIDS:
            out[name] = [round(v, 4) for v in getattr(self, name)]
        return out

    @classmethod
    def from_json(cls, data: object) -> Profile:
        if not isinstance(data, dict):
            raise ValueError("baseline profile must be an object")
        expected = {f.name for f in fields(cls)}
        if set(data) != expected:
            raise ValueError(f"baseline profile keys differ: {sorted(set(data) ^ expected)}")
        samples = data["samples"]
        if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
            raise ValueError("baseline samples must be a positive integer")
        values: dict[str, Any] = {"samples": samples}
        for name in _SCALARS:
            values[name] = _number(data[name], name)
        for name in _GRIDS:
            cells = data[name]
            if not isinstance(cells, list) or len(cells) != _CELLS:
                raise ValueError(f"baseline {name} must be a list of {_CELLS} numbers")
            values[name] = tuple(_number(v, name) for v in cells)
        return cls(**values)


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"baseline {name} must be a number")
    number = float(value)
    if not math.isfinite(number) or abs(number) > _MAX_VALUE:
        raise ValueError(f"baseline {name} is out of range")
    return number


@dataclass(frozen=True, slots=True)
class Baseline:
    """What was learned from one camera's healthy pictures, by day and by IR night."""

    day: Profile | None = None
    night: Profile | None = None

    def profile(self, ir_grey: bool) -> Profile | None:
        """The profile for a picture of this kind (IR grey or colour), or None if unlearned."""
        return self.night if ir_grey else self.day

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (``from_json`` reads it back)."""
        return {
            "schema": "gridbridge.vqd-baseline/1",
            "day": self.day.to_json() if self.day else None,
            "night": self.night.to_json() if self.night else None,
        }

    @classmethod
    def from_json(cls, data: object) -> Baseline:
        """A baseline from ``to_json`` output.  Raises ValueError on anything else."""
        if not isinstance(data, dict) or data.get("schema") != "gridbridge.vqd-baseline/1":
            raise ValueError("not a gridbridge VQD baseline")
        if set(data) != {"schema", "day", "night"}:
            raise ValueError("baseline has unexpected keys")
        day, night = data["day"], data["night"]
        return cls(
            day=None if day is None else Profile.from_json(day),
            night=None if night is None else Profile.from_json(night),
        )


def learn(
    baseline: Baseline | None,
    metrics: Metrics,
    rules: VqdRules = VqdRules(),  # noqa: B008 - frozen dataclass, immutable default
) -> Baseline:
    """``baseline`` updated with a healthy picture's metrics (the day or the night profile)."""
    baseline = baseline or Baseline()
    current = baseline.profile(metrics.ir_grey)
    if current is None:
        profile = Profile.first(metrics)
    else:
        profile = current.updated(metrics, rules.baseline_window)
    if metrics.ir_grey:
        return replace(baseline, night=profile)
    return replace(baseline, day=profile)
