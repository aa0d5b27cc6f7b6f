"""Video quality diagnosis (VQD): one picture → picture fault codes (pure; DESIGN §5).

The caller (the frame tier) decodes a snapshot with :func:`decode_jpeg` (or prepares an RTSP
grab with :func:`prepare`) and calls :func:`diagnose` with what it keeps per camera: the
previous frame (seconds earlier, for ``frozen``), the reference picture (taken when the camera
was first healthy, for ``scene_changed``) and the learned :class:`Baseline`.  When
:func:`is_healthy_for_learning` says so, it feeds the metrics to :func:`learn` and may keep the
frame as the reference.

Order of judgement: a picture that shows nothing (``no_signal``, ``black``) gets only that
code — blur, colour or scene rules are meaningless on it.  A badly exposed picture
(``too_dark``/``too_bright``) is not judged for blur or occlusion.  At night (the clock's
night window, or an infrared grey picture) colour cast and darkness rules are off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from health.verdict import FAULT_ORDER
from health.vqd_baseline import Baseline, Profile, learn
from health.vqd_cells import around, judge_cells
from health.vqd_frame import Frame, decode_jpeg, jpeg_size, prepare
from health.vqd_metrics import Metrics, measure, similarity
from health.vqd_rules import VqdRules

__all__ = [
    "Baseline",
    "Diagnosis",
    "Frame",
    "Metrics",
    "Profile",
    "VqdRules",
    "decode_jpeg",
    "diagnose",
    "is_healthy_for_learning",
    "jpeg_size",
    "learn",
    "prepare",
]

# Faults a camera's normal view can show on its own (soft lens, plain wall, yellow building,
# tunnel, busy texture): while a baseline is young, pictures with only these still teach it.
SCENE_DEPENDENT = frozenset({"blur", "occluded", "color_cast", "too_dark", "too_bright", "noise"})
_FLAT_CELL = 10.0  # below: a featureless cell
_MIN_VISIBLE = 16  # cells an occluder must leave in view to compare the scene (OSD: ~4)
_BARE_SCREEN = 0.97  # share of the one colour on a screen without a message
_SCREEN_MAX_GREY = 200  # encoder screens are blue, black or mid grey; flat and light is glare
_DEFAULT_RULES = VqdRules()


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """The picture faults of one frame (ordered as ``FAULT_ORDER``) and why."""

    metrics: Metrics
    faults: tuple[str, ...]
    night: bool  # judged as a night picture (night window or IR grey)
    notes: tuple[str, ...]  # short English reasons, one per fault
    learnable: bool  # may update the baseline and become the reference picture

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict: faults, night, notes and the scalar metrics."""
        return {
            "faults": list(self.faults),
            "night": self.night,
            "notes": list(self.notes),
            "metrics": self.metrics.to_json(),
        }


def is_healthy_for_learning(diagnosis: Diagnosis) -> bool:
    """Whether the frame may update the camera's baseline and serve as its reference."""
    return diagnosis.learnable


def _mature(profile: Profile | None, rules: VqdRules) -> Profile | None:
    if profile is None or profile.samples < rules.baseline_min_samples:
        return None
    return profile


def _grey(colour: tuple[int, int, int]) -> float:
    return 0.114 * colour[0] + 0.587 * colour[1] + 0.299 * colour[2]


def _screen(m: Metrics, rules: VqdRules) -> tuple[str, str] | None:
    """``no_signal`` or ``black`` when the picture shows nothing of a scene.

    An encoder's "no video" screen is one exact colour (a real view, even a plain wall, has
    a gradient of light across it): with a message in the middle, or bare over practically
    all of the picture.  A dark, flat picture without a message is ``black``.
    """
    grey = _grey(m.dominant)
    if m.uniform >= rules.no_signal_min_uniform and grey <= _SCREEN_MAX_GREY:
        bare = m.uniform >= _BARE_SCREEN
        coloured = max(m.dominant) - min(m.dominant) > 80
        if m.centre_marks or (bare and (coloured or grey >= rules.black_max_mean)):
            return "no_signal", f"{m.uniform:.0%} of the picture is one flat colour"
    if m.brightness < rules.black_max_mean and m.spread < rules.black_max_spread:
        return "black", f"mean grey {m.brightness:.0f}, spread {m.spread:.1f}"
    return None


def _exposure(m: Metrics, profile: Profile | None, night: bool, rules: VqdRules) -> dict[str, str]:
    low, high = rules.too_dark_mean, rules.too_bright_mean
    if profile is not None:  # judged against the camera's own normal exposure
        low = min(low, profile.brightness - rules.exposure_baseline_margin)
        high = max(high, profile.brightness + rules.exposure_baseline_margin)
    found = {}
    if m.brightness < low and not night:
        found["too_dark"] = f"mean grey {m.brightness:.0f} < {low:.0f}"
    if m.brightness > high:
        found["too_bright"] = f"mean grey {m.brightness:.0f} > {high:.0f}"
    return found


def _colour(m: Metrics, profile: Profile | None, rules: VqdRules) -> dict[str, str]:
    da, db = m.chroma_a, m.chroma_b
    if profile is not None:  # a yellow building or a green park is this camera's normal
        da, db = da - profile.chroma_a, db - profile.chroma_b
    d = math.hypot(da, db)
    k = d / max(m.chroma_spread, 0.5)
    limit = rules.cast_k if profile is None else rules.cast_k_baseline
    if k > limit and d >= rules.cast_min_d:
        return {"color_cast": f"colour cast K={k:.1f} (D={d:.0f})"}
    return {}


def _scene(
    frame: Frame, reference: Frame, m: Metrics, covered: set[int], rules: VqdRules
) -> dict[str, str]:
    """``scene_changed`` unless enough features match or the view still correlates."""
    if m.scene_inliers is not None and m.scene_inliers >= rules.scene_min_inliers:
        return {}
    similar = m.scene_similarity
    if covered:  # compare only what an occluder leaves, away from its soft border
        near = around([1.0 if i in covered else 0.0 for i in range(len(m.cells_texture))])
        visible = [near[i] < 0.5 and t >= _FLAT_CELL for i, t in enumerate(m.cells_texture)]
        if sum(visible) < _MIN_VISIBLE:
            return {}  # too little left in view to tell whether the camera still sees its scene
        similar = similarity(frame, reference, visible)
    if similar is None or similar >= rules.scene_min_similarity:
        return {}
    inliers = "too few features" if m.scene_inliers is None else f"{m.scene_inliers} matches"
    return {"scene_changed": f"{inliers}, similarity {similar:.2f} with the reference"}


def _profile(
    m: Metrics, baseline: Baseline | None, night_window: bool
) -> tuple[bool, Profile | None]:
    """Whether the picture counts as night, and the baseline profile to judge it by."""
    if baseline is None:
        return night_window or m.ir_grey, None
    # A grey picture is an infrared night picture, unless the camera has only ever shown
    # grey pictures (a monochrome camera): then grey is its daylight too.
    monochrome = baseline.day is None and baseline.night is not None
    night = night_window or (m.ir_grey and not monochrome)
    profile = baseline.profile(m.ir_grey)
    if profile is None and not night:
        profile = baseline.day or baseline.night
    return night, profile


def diagnose(
    frame: Frame,
    *,
    previous: Frame | None = None,
    reference: Frame | None = None,
    baseline: Baseline | None = None,
    night_window: bool = False,
    rules: VqdRules = _DEFAULT_RULES,
) -> Diagnosis:
    """The picture faults of ``frame``.

    ``previous``: a frame of the same camera taken seconds earlier (enables ``frozen``);
    ``reference``: the camera's reference picture (enables ``scene_changed``);
    ``baseline``: what was learned from its healthy pictures (relative rules; without it,
    absolute floors that a soft camera or a plain wall does not trip);
    ``night_window``: the clock says night (the caller decides from config).
    """
    m = measure(frame, previous=previous, reference=reference, rules=rules)
    night, profile = _profile(m, baseline, night_window)
    mature = _mature(profile, rules)
    screen = _screen(m, rules)
    if screen is not None:
        return Diagnosis(m, (screen[0],), night, (f"{screen[0]}: {screen[1]}",), False)

    found: dict[str, str] = {}
    if m.frozen_changed is not None and m.frozen_changed < rules.frozen_max_changed:
        found["frozen"] = f"{m.frozen_changed:.2%} of the pixels changed since the last frame"
    exposure = _exposure(m, mature, night, rules)
    found.update(exposure)
    noise_limit = rules.noise_max_sigma_night if night else rules.noise_max_sigma
    if mature is not None:
        noise_limit = max(rules.noise_min_sigma, mature.noise * rules.noise_ratio)
    if m.noise > noise_limit:
        found["noise"] = f"noise sigma {m.noise:.1f} > {noise_limit:.1f}"

    # Blur and occlusion need a picture exposed well enough to show detail.  At night
    # without a learned night profile, only occlusion is judged, against the day profile's
    # detail (IR pictures are softer, and their light falls differently).
    sharp: dict[str, str] = {}
    covered: set[int] = set()
    exposed = not exposure and m.brightness >= (rules.too_dark_mean if night else 0)
    if exposed and (mature is not None or not night):
        sharp, covered = judge_cells(m, mature, rules, by_brightness=not night)
    elif exposed and baseline is not None and (day := _mature(baseline.day, rules)):
        sharp, covered = judge_cells(m, day, rules, blur_check=False, by_brightness=False)
    # Scene: an IR night picture can be compared with a day reference (features and local
    # correlation care for neither colour nor gain); a dark or badly exposed one cannot.
    if reference is not None and not exposure and m.brightness >= rules.too_dark_mean:
        found.update(_scene(frame, reference, m, covered if "occluded" in sharp else set(), rules))
    # The baseline describes the reference view: relative rules mean nothing on another view.
    if "scene_changed" not in found:
        found.update(sharp)
        # Colour is judged on a well-exposed picture only (shadows and highlights have none),
        # and not under a large occluder (its own colour would pass for a cast).
        if not night and not exposure and "occluded" not in found:
            found.update(_colour(m, mature, rules))

    faults = tuple(code for code in FAULT_ORDER if code in found)
    young = profile is None or profile.samples < rules.baseline_min_samples
    learnable = not faults or (young and set(faults) <= SCENE_DEPENDENT)
    notes = tuple(f"{code}: {found[code]}" for code in faults)
    return Diagnosis(m, faults, night, notes, learnable)
