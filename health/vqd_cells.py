"""Occlusion and blur, judged cell by cell against a camera's baseline (pure).

The view is cut into the GRID cells of :mod:`health.vqd_metrics`.  Something on, or right in
front of, the lens is far out of focus: where it sits, the picture has no detail at all.

Covered cells, in three steps:
1. seeds — cells that had detail in the baseline and now have none: their contrast (detail
   relative to brightness, which a shadow or the camera's exposure does not change) fell far
   more than in the rest of the view, and their neighbourhood lost its detail too (a swaying
   pole only moves detail into the next cell);
2. by day, featureless cells whose brightness jumped (more than 1.6x darker or brighter than
   usual, the view's exposure aside): the part of the occluder over sky or a plain wall;
3. the occluder: one connected featureless region touching the edge of the view and holding
   seeds.  A shadow on a plain wall has no seed, so it never counts.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from health.vqd_baseline import Profile
from health.vqd_metrics import GRID, TEXTURED_CELL, Metrics
from health.vqd_rules import VqdRules

__all__ = ["COVERED_CELL", "around", "judge_cells"]

# Mean |gradient| below which a cell has no detail at all (labelled set: under occluders
# 0.2-3.4; the grass or sky of another view 2.5 and more).
COVERED_CELL = 4.0
_FLAT_CELL = 10.0
_MIN_TEXTURED_CELLS = 6  # fewer: the view has too little detail to judge it by
_BRIGHTNESS_JUMP = math.log(1.6)


def around(cells: Any) -> Any:
    """Sum over each GRID cell's 3 x 3 neighbourhood, as a flat array."""
    cols, rows = GRID
    grid = np.asarray(cells, np.float32).reshape(rows, cols)
    summed = cv2.boxFilter(grid, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
    return np.asarray(summed).ravel()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _neighbours(i: int) -> list[int]:
    """The 8 neighbours of GRID cell ``i``."""
    cols, rows = GRID
    r, c = divmod(i, cols)
    return [
        y * cols + x
        for y in (r - 1, r, r + 1)
        for x in (c - 1, c, c + 1)
        if (y, x) != (r, c) and 0 <= y < rows and 0 <= x < cols
    ]


def _groups(cells: set[int]) -> list[set[int]]:
    """The 8-connected groups of ``cells`` that touch the edge of the view."""
    cols, rows = GRID
    groups, left = [], set(cells)
    while left:
        group, todo = set(), [left.pop()]
        while todo:
            i = todo.pop()
            group.add(i)
            for j in _neighbours(i):
                if j in left:
                    left.discard(j)
                    todo.append(j)
        if any(i < cols or i >= cols * (rows - 1) or i % cols in (0, cols - 1) for i in group):
            groups.append(group)
    return groups


def _jumped(m: Metrics, profile: Profile, featureless: set[int]) -> set[int]:
    """Featureless cells much darker or brighter than usual, the view's exposure aside."""

    def ratio(i: int) -> float:
        return (m.cells_mean[i] + 8) / (profile.cells_mean[i] + 8)

    detailed = [ratio(i) for i in range(len(m.cells_mean)) if i not in featureless]
    gain = _percentile(detailed, 0.5) if detailed else 1.0
    return {i for i in featureless if abs(math.log(ratio(i) / gain)) > _BRIGHTNESS_JUMP}


def _covered(
    m: Metrics, profile: Profile, textured: list[int], rules: VqdRules, *, by_brightness: bool
) -> set[int]:
    """The cells the largest occluder covers (see the module's docstring)."""
    now = [t / (mean + 8) for t, mean in zip(m.cells_texture, m.cells_mean, strict=True)]
    usual = [
        t / (mean + 8) for t, mean in zip(profile.cells_texture, profile.cells_mean, strict=True)
    ]
    ratios = {i: now[i] / max(usual[i], 1e-6) for i in textured}
    # The least changed tenth of the view sets the scale (capped at 1: extra texture
    # elsewhere, e.g. snow noise, does not make a cell covered).
    level = min(_percentile(list(ratios.values()), 0.9), 1.0)
    kept_around = around(m.cells_texture) / np.maximum(around(profile.cells_texture), 1e-3)
    featureless = {i for i, t in enumerate(m.cells_texture) if t < COVERED_CELL}
    seeds = {
        i
        for i, r in ratios.items()
        if i in featureless
        and r < rules.occluded_cell_ratio * level
        and kept_around[i] < 0.6 * level
    }
    if not seeds:
        return set()
    changed = seeds | (_jumped(m, profile, featureless) if by_brightness else set())
    # Featureless cells that look as before may or may not be covered: they only connect.
    best: set[int] = set()
    for group in _groups(featureless):
        counted = group & changed
        if group & seeds and len(counted) > len(best):
            best = counted
    return best


def judge_cells(
    m: Metrics,
    profile: Profile | None,
    rules: VqdRules,
    *,
    blur_check: bool = True,
    by_brightness: bool = True,
) -> tuple[dict[str, str], set[int]]:
    """``occluded`` and ``blur`` (code → note) and the covered cells (indices into GRID).

    Without a profile, absolute floors: a large dark featureless area, a very soft picture.
    ``by_brightness``: let brightness changes extend an occluder (by day only: IR pictures
    differ too much from the day baseline).
    """
    found: dict[str, str] = {}
    if profile is None:
        cells = list(zip(m.cells_mean, m.cells_texture, strict=True))
        dark = sum(1 for mean, tex in cells if mean < rules.occluded_dark_mean and tex < _FLAT_CELL)
        if dark / len(cells) >= rules.occluded_dark_share:
            found["occluded"] = f"{dark / len(cells):.0%} of the view dark and featureless"
        if blur_check and m.sharpness < rules.blur_min_sharpness:
            found["blur"] = f"edge sharpness {m.sharpness:.2f} < {rules.blur_min_sharpness}"
        return found, set()
    textured = [i for i, t in enumerate(profile.cells_texture) if t >= TEXTURED_CELL]
    if len(textured) < _MIN_TEXTURED_CELLS:
        return found, set()  # a plain view: nothing to lose, nothing to judge
    covered = _covered(m, profile, textured, rules, by_brightness=by_brightness)
    # Share of the view: of its area, or of its detail, whichever is larger.
    share = max(len(covered) / len(m.cells_texture), len(covered & set(textured)) / len(textured))
    if share >= rules.occluded_min_share:
        found["occluded"] = f"{share:.0%} of the view covered"
    # Blur: how much of its usual edge sharpness (above the no-edge level 1) the median
    # detailed cell keeps; when the view is occluded, among the cells left visible.  (Defocus
    # also wipes out fine texture, which can look like a few covered cells.)
    hidden = covered if "occluded" in found else set()
    kept = [
        (m.cells_sharpness[i] - 1.0) / max(profile.cells_sharpness[i] - 1.0, 0.05)
        for i in textured
        if i not in hidden
    ]
    if blur_check and kept and (ratio := _percentile(kept, 0.5)) < rules.blur_ratio:
        found["blur"] = f"edge sharpness {ratio:.0%} of this camera's usual"
    return found, covered
