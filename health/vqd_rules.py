"""Thresholds of video quality diagnosis (VQD), one frozen dataclass (pure; DESIGN §5).

Every number the diagnosis uses is here, with where it comes from.  Measurements are taken on
the *analysis picture* (the frame scaled to ``analysis_width``, 640 px by default), so pixel
counts, noise levels and sharpness are in that picture's units whatever the camera sends.
``bridge.settings_vqd.VqdSettings`` mirrors these fields for the config file.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["VqdRules"]


@dataclass(frozen=True, slots=True)
class VqdRules:
    """Thresholds of the picture diagnosis; defaults follow published VQD practice."""

    # Analysis size: 640 px wide keeps every metric under a few ms and is what most VQD
    # products analyse (CIF/D1-class pictures); faults here are visible at that size.
    analysis_width: int = 640

    # black (黑屏): mean grey very low AND almost no structure.  Common VQD practice: mean
    # < 20 of 255 with a near-zero spread.  The spread is measured on an 8x smaller picture
    # (so sensor noise does not count, only picture content).
    black_max_mean: float = 20.0
    black_max_spread: float = 4.0

    # no_signal (无视频信号): an encoder/NVR "no video" screen is one exact colour over nearly
    # all of the picture (blue, black or grey, a message in the middle).  Measured on a
    # 160 x 90 thumbnail, where sensor noise averages out but the light gradient across any
    # real view (a plain wall, fog) stays.
    no_signal_min_uniform: float = 0.85  # share of the picture within the tolerance below
    no_signal_tolerance: int = 3  # grey levels per channel around the dominant colour

    # too_dark / too_bright (亮度异常): mean grey < 30 or > 220 (DESIGN §5, usual defaults of
    # commercial VQD).  A camera whose normal picture is itself beyond a limit (a tunnel, a
    # white wall) is flagged only when it is this many levels further than its baseline.
    too_dark_mean: float = 30.0
    too_bright_mean: float = 220.0
    exposure_baseline_margin: float = 15.0

    # blur (模糊): edge sharpness = gradient energy at the pixel scale over gradient energy
    # at the next pyramid level, per cell of the view (an edge-width measure; the classic
    # variance of the Laplacian takes sensor noise and JPEG blocking for detail).  Crisp
    # edges give about 3, a defocused picture about 1.  With a baseline: blurred when the
    # detailed part of the view keeps less than this share of its usual sharpness above 1
    # (labelled set: defocus keeps <= 0.45, healthy pictures >= 0.72).
    blur_ratio: float = 0.5
    # Without a baseline: an absolute floor of the edge sharpness, below what merely soft
    # cameras give (labelled set: the softest healthy view, a 3x upscaled photo, 1.37).
    blur_min_sharpness: float = 1.25

    # occluded (遮挡): share of the view's detailed cells whose edges collapsed (to less than
    # ``occluded_cell_ratio`` of the baseline, relative to the rest of the view).  Industry
    # VQD flags occlusion from a quarter to a third of the view.
    occluded_min_share: float = 0.25
    occluded_cell_ratio: float = 0.3
    # Without a baseline, only a large, dark, featureless area counts (a plain wall is light).
    occluded_dark_mean: float = 45.0
    occluded_dark_share: float = 0.45

    # color_cast (偏色): K = D / M in CIE Lab (Xu et al., "colour cast detection based on the
    # equivalent circle", widely used in VQD): D = distance of the mean chroma from neutral,
    # M = the chroma spread; a cast when K > 1.5 and D is at least ``cast_min_d`` Lab units.
    cast_k: float = 1.5
    cast_min_d: float = 8.0
    # With a baseline, D is the shift of the mean chroma from the camera's usual one (a
    # yellow wall is not a cast), so a smaller K suffices (labelled set: healthy <= 0.52).
    cast_k_baseline: float = 1.0

    # Infrared night picture: no colour anywhere (the 90th percentile of the chroma's
    # deviation stays at noise level) and at most a slight uniform tint (D).  Colour and
    # darkness rules do not apply to it.
    ir_max_colourful: float = 3.5
    ir_max_tint: float = 10.0

    # noise (雪花噪声): sensor noise sigma (Immerkaer 1996 fast estimate, grey levels at the
    # analysis size).  Labelled set: healthy day pictures < 2, IR night up to 4, snow noise
    # 7.5 and more.  With a baseline: this many times the camera's own level, and at least
    # ``noise_min_sigma``.
    noise_max_sigma: float = 5.0
    # At night before the camera's IR profile is learned: IR pictures are noisy by nature.
    noise_max_sigma_night: float = 10.0
    noise_ratio: float = 2.5
    noise_min_sigma: float = 3.0

    # frozen (画面冻结): two pictures seconds apart where less than this share of the pixels
    # changed by more than ``frozen_pixel_delta`` grey levels.  A live camera's sensor noise
    # changes 25-60 % of the analysis pixels even at 4K with little noise; a camera whose
    # picture froze re-encodes the same frame, so only its burnt-in clock changes (< 0.2 %).
    # Raise the delta to 1-2 if frames come from an H.264 grab whose I-frames requantise a
    # frozen picture.
    frozen_pixel_delta: int = 0
    frozen_max_changed: float = 0.02

    # scene_changed (场景变换): ORB features of the half-size picture matched with the
    # reference's, kept when they agree on a near-identity similarity transform (RANSAC):
    # the same view keeps dozens, another view none.  When either picture has too few
    # features (blurred, dark, plain), the median correlation of small patches, cell by
    # cell, decides (labelled set: other views <= 0.38, the same view >= 0.42).
    scene_min_inliers: int = 12
    scene_min_features: int = 50
    scene_min_similarity: float = 0.5
    orb_features: int = 200

    # Baselines: learned from healthy pictures; relative rules start after this many samples,
    # then follow slow changes (seasons, foliage) as a moving average over this many samples.
    baseline_min_samples: int = 2
    baseline_window: int = 20
