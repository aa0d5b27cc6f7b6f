"""Config of video quality diagnosis: ``frames.vqd`` in the config file (pydantic v2).

Mirrors :class:`health.vqd_rules.VqdRules` field by field, with bounds and a short
description; :meth:`VqdSettings.to_rules` hands the core its frozen dataclass.  The reasons
for each default are in ``health/vqd_rules.py`` and ``docs/vqd.md``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from health.vqd_rules import VqdRules

__all__ = ["VqdSettings"]

_D = VqdRules()  # the defaults live in one place: the core's dataclass


def _share(default: float, description: str) -> Any:
    return Field(default, ge=0.0, le=1.0, description=description)


class VqdSettings(BaseModel):
    """Thresholds of the picture diagnosis; every default follows published VQD practice."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    analysis_width: int = Field(
        _D.analysis_width,
        ge=160,
        le=1920,
        description="Width (px) pictures are scaled to before analysis; thresholds assume 640.",
    )
    black_max_mean: float = Field(
        _D.black_max_mean, ge=0, le=100, description="black: mean grey (0-255) below this ..."
    )
    black_max_spread: float = Field(
        _D.black_max_spread,
        ge=0,
        le=50,
        description="... and content spread (grey levels, OSD ignored) below this.",
    )
    no_signal_min_uniform: float = _share(
        _D.no_signal_min_uniform, "no_signal: share of the picture in one flat colour."
    )
    no_signal_tolerance: int = Field(
        _D.no_signal_tolerance,
        ge=0,
        le=64,
        description="no_signal: grey levels per channel that still count as the flat colour.",
    )
    too_dark_mean: float = Field(
        _D.too_dark_mean, ge=0, le=128, description="too_dark: mean grey below this (by day)."
    )
    too_bright_mean: float = Field(
        _D.too_bright_mean, ge=128, le=255, description="too_bright: mean grey above this."
    )
    exposure_baseline_margin: float = Field(
        _D.exposure_baseline_margin,
        ge=0,
        le=100,
        description="A camera normally beyond a brightness limit is flagged only this much "
        "further than its learned brightness.",
    )
    blur_ratio: float = _share(
        _D.blur_ratio, "blur: share of the camera's usual edge sharpness below which it is blurred."
    )
    blur_min_sharpness: float = Field(
        _D.blur_min_sharpness,
        ge=1.0,
        le=4.0,
        description="blur before a baseline is learned: edge sharpness below this (1 = no edges).",
    )
    occluded_min_share: float = _share(
        _D.occluded_min_share,
        "occluded: share of the view's detailed cells that lost their detail.",
    )
    occluded_cell_ratio: float = Field(
        _D.occluded_cell_ratio,
        gt=0,
        le=1,
        description="occluded: a cell lost its detail below this share of its usual detail.",
    )
    occluded_dark_mean: float = Field(
        _D.occluded_dark_mean,
        ge=0,
        le=255,
        description="occluded before a baseline: cells darker than this and featureless ...",
    )
    occluded_dark_share: float = _share(
        _D.occluded_dark_share, "... covering at least this share of the view."
    )
    cast_k: float = Field(
        _D.cast_k,
        gt=0,
        le=20,
        description="color_cast: K = D/M above this (Lab; before a baseline).",
    )
    cast_min_d: float = Field(
        _D.cast_min_d, ge=0, le=128, description="color_cast: and D at least this (Lab units)."
    )
    cast_k_baseline: float = Field(
        _D.cast_k_baseline,
        gt=0,
        le=20,
        description="color_cast with a baseline: K of the shift from the camera's usual colour.",
    )
    ir_max_colourful: float = Field(
        _D.ir_max_colourful,
        ge=0,
        le=50,
        description="Infrared (grey) picture: chroma deviation of its most colourful tenth "
        "below this.",
    )
    ir_max_tint: float = Field(
        _D.ir_max_tint,
        ge=0,
        le=50,
        description="Infrared picture: uniform tint D below this (Lab).",
    )
    noise_max_sigma: float = Field(
        _D.noise_max_sigma,
        gt=0,
        le=100,
        description="noise before a baseline: noise sigma (grey levels at analysis size) "
        "above this.",
    )
    noise_max_sigma_night: float = Field(
        _D.noise_max_sigma_night,
        gt=0,
        le=100,
        description="The same at night before the camera's IR pictures are learned.",
    )
    noise_ratio: float = Field(
        _D.noise_ratio, ge=1, le=20, description="noise with a baseline: this many times the usual."
    )
    noise_min_sigma: float = Field(
        _D.noise_min_sigma,
        ge=0,
        le=100,
        description="noise with a baseline: never below this sigma.",
    )
    frozen_pixel_delta: int = Field(
        _D.frozen_pixel_delta,
        ge=0,
        le=32,
        description="frozen: a pixel changed if it moved by more than this many grey levels.",
    )
    frozen_max_changed: float = _share(
        _D.frozen_max_changed, "frozen: fewer changed pixels than this share since the last frame."
    )
    scene_min_inliers: int = Field(
        _D.scene_min_inliers,
        ge=1,
        le=1000,
        description="scene_changed: feature matches with the reference that prove the same view.",
    )
    scene_min_features: int = Field(
        _D.scene_min_features,
        ge=4,
        le=5000,
        description="scene_changed: fewer features than this and the patch correlation decides.",
    )
    scene_min_similarity: float = Field(
        _D.scene_min_similarity,
        ge=-1,
        le=1,
        description="scene_changed: patch correlation with the reference below this.",
    )
    orb_features: int = Field(
        _D.orb_features, ge=50, le=5000, description="Features (ORB) taken from each picture."
    )
    baseline_min_samples: int = Field(
        _D.baseline_min_samples,
        ge=1,
        le=1000,
        description="Healthy pictures learned before a camera is judged against itself.",
    )
    baseline_window: int = Field(
        _D.baseline_window,
        ge=1,
        le=10000,
        description="The baseline follows slow change as a moving average over this many pictures.",
    )

    @model_validator(mode="after")
    def _limits_in_order(self) -> VqdSettings:
        if self.too_dark_mean >= self.too_bright_mean:
            raise ValueError("too_dark_mean must be below too_bright_mean")
        if self.black_max_mean > self.too_dark_mean:
            raise ValueError("black_max_mean must not exceed too_dark_mean")
        return self

    def to_rules(self) -> VqdRules:
        """The frozen rules the diagnosis takes."""
        return VqdRules(**self.model_dump())
