"""The numbers of video quality diagnosis, measured on a prepared frame (pure; numpy + OpenCV).

``measure`` computes everything the rules need in one pass over the analysis picture (640 px
wide by default): exposure, structure, sharpness, noise, colour, uniformity, and — when given
the earlier frame or the reference picture — change and scene similarity.  Per-cell texture
and sharpness on a 12 x 8 grid let the rules tell a covered part of the view (occlusion) from
a picture that is soft everywhere (blur), and compare a camera with its own baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from health.vqd_frame import Frame
from health.vqd_rules import VqdRules

__all__ = ["GRID", "TEXTURED_CELL", "Metrics", "measure", "similarity"]

GRID = (16, 9)  # columns, rows of the cell grid (40 x 40 px cells at 640 x 360)
EDGE_LEVEL = 40  # Sobel |dx| + |dy| (smoothed picture) that counts as an edge pixel
TEXTURED_CELL = 12.0  # mean |gradient| of a cell with real detail (a plain sky: 1-4)
_COARSE_SIGMA = 2.0
_THUMB = (160, 90)  # colour statistics and uniformity: content, not pixels, matters
_PATCH = (10, 10)  # pixels of one cell's patch in the scene comparison (160 x 90 in all)
# Immerkaer's noise kernel: zero response to planes and ramps, 6 sigma response to noise.
_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
_MAD_TO_SIGMA = 1.0 / (0.6745 * 6.0)  # median |N(0, 6 sigma)| = 0.6745 * 6 sigma

Floats = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Metrics:
    """What one picture measures; ``None`` where the comparison picture was not given."""

    width: int  # analysis picture
    height: int
    source_width: int  # the camera's picture
    source_height: int
    brightness: float  # mean grey, 0-255
    contrast: float  # standard deviation of grey
    spread: float  # spread of grey on an 8x smaller picture (5-95 %): content, not noise or OSD
    sharpness: float  # median over detailed cells of fine / coarse gradient energy (1 = no edge)
    edge_density: float  # share of edge pixels
    noise: float  # estimated noise sigma, grey levels
    chroma_a: float  # mean Lab a*, b* (0 = neutral), on the picture normalised to mid grey
    chroma_b: float
    chroma_spread: float  # M: mean absolute deviation of the chroma
    colourful: float  # 90th percentile of the chroma's deviation from its mean
    cast_d: float  # D: distance of the mean chroma from neutral
    cast_k: float  # K = D / M
    ir_grey: bool  # a grey (infrared) picture: no chroma spread, at most a slight tint
    uniform: float  # share of the picture within tolerance of the dominant colour
    dominant: tuple[int, int, int]  # BGR
    centre_marks: bool  # marks (a message) in the middle of an otherwise flat picture
    frozen_changed: float | None  # share of pixels changed since the previous frame
    scene_inliers: int | None  # ORB + RANSAC inliers against the reference picture
    scene_similarity: float | None  # correlation of grey thumbnails with the reference
    cells_texture: tuple[float, ...] = field(repr=False)  # mean |gradient| per cell
    cells_sharpness: tuple[float, ...] = field(repr=False)  # fine / coarse gradient energy
    cells_mean: tuple[float, ...] = field(repr=False)  # mean grey per cell

    def to_json(self) -> dict[str, Any]:
        """The scalar metrics as a JSON-safe dict (cell grids left out)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            if name.startswith("cells_"):
                continue
            value = getattr(self, name)
            if isinstance(value, float):
                value = round(value, 4)
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out


def _grid(values: Any) -> Floats:
    """Mean of ``values`` per cell of GRID, as a flat array (row by row).

    At 640 x 360 (and its half) the cells are whole pixels (40 x 40), OpenCV's fast path.
    """
    return np.asarray(cv2.resize(values, GRID, interpolation=cv2.INTER_AREA), np.float32).ravel()


def _cells(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _median_abs(values: Any) -> float:
    """Median of |values| from a histogram (integer levels, interpolated): faster than sort."""
    magnitude = cv2.convertScaleAbs(values)  # |values|, saturated at 255
    counts = cv2.calcHist([magnitude], [0], None, [256], [0, 256]).ravel()
    cumulative = np.cumsum(counts)
    half = cumulative[-1] / 2.0
    level = int(np.searchsorted(cumulative, half))
    below = float(cumulative[level - 1]) if level > 0 else 0.0
    return float(level - 0.5 + (half - below) / max(float(counts[level]), 1.0))


def _colour(frame: Frame) -> tuple[float, float, float, float, tuple[int, int, int], Any]:
    """Mean chroma (a, b), spread M, 90th percentile chroma deviation, dominant colour, thumb."""
    thumb = frame.cached("thumb")
    if thumb is None:
        thumb = cv2.resize(frame.bgr, _THUMB, interpolation=cv2.INTER_AREA)
        frame.keep("thumb", thumb)
    small = cv2.resize(thumb, (_THUMB[0] // 2, _THUMB[1] // 2), interpolation=cv2.INTER_AREA)
    # Chroma is judged on the picture brought to mid grey: Lab chroma shrinks towards black,
    # so a dark but colourful picture would otherwise pass for a grey (infrared) one.
    mean = float(small.mean())
    gain = min(max(110.0 / max(mean, 1.0), 0.5), 6.0)
    lab = cv2.cvtColor(cv2.convertScaleAbs(small, alpha=gain), cv2.COLOR_BGR2Lab)
    a = lab[:, :, 1].astype(np.float32) - 128.0
    b = lab[:, :, 2].astype(np.float32) - 128.0
    da, db = float(a.mean()), float(b.mean())
    spread = math.hypot(float(np.abs(a - da).mean()), float(np.abs(b - db).mean()))
    # Colourfulness of the most colourful tenth: an IR picture has none anywhere, a colour
    # picture half hidden by a grey occluder still has some.
    colourful = float(np.percentile(np.hypot(a - da, b - db), 90))
    dominant = np.median(small.reshape(-1, 3), axis=0)
    dom = (int(dominant[0]), int(dominant[1]), int(dominant[2]))
    return da, db, spread, colourful, dom, thumb


def _uniform(thumb: Any, dominant: tuple[int, int, int], tolerance: int) -> float:
    deviation = cv2.absdiff(thumb, np.full_like(thumb, dominant)).max(axis=2)
    return float(np.count_nonzero(deviation <= tolerance)) / float(deviation.size)


def _centre_marks(grey: npt.NDArray[np.uint8], dominant_grey: float) -> bool:
    """A message written in the middle of a flat picture, as encoder "no video" screens have.

    Marks are pixels far from the flat background.  A message is small (0.2-3 % of the
    picture), mostly in the middle (a camera's own OSD sits in the corners) and made of thin
    strokes that a 5 x 5 erosion wipes out — unlike a door or a sign in a wall.
    """
    h, w = grey.shape
    marks = (cv2.absdiff(grey, np.full_like(grey, round(dominant_grey))) > 60).astype(np.uint8)
    centre = marks[int(h * 0.3) : int(h * 0.7), int(w * 0.15) : int(w * 0.85)]
    inside = int(np.count_nonzero(centre))
    outside = int(np.count_nonzero(marks)) - inside
    if not 0.002 * centre.size <= inside <= 0.03 * grey.size or inside < 0.25 * outside:
        return False
    solid = int(np.count_nonzero(cv2.erode(centre, np.ones((5, 5), np.uint8))))
    return solid <= 0.3 * inside


def _features(frame: Frame, rules: VqdRules) -> tuple[Any, Any]:
    found = frame.cached("orb")
    if found is None:
        # On the half-size picture: four times cheaper, and a moved camera changes the
        # coarse structure of the view anyway.  Few pyramid levels: the same view matches at
        # nearly the same scale.
        orb = cv2.ORB.create(
            nfeatures=rules.orb_features, nlevels=3, edgeThreshold=19, patchSize=19
        )
        keypoints, descriptors = orb.detectAndCompute(cv2.pyrDown(frame.grey), None)
        points = np.array([k.pt for k in keypoints], np.float32).reshape(-1, 2) * 2.0
        found = (points, descriptors)
        frame.keep("orb", found)
    return found  # type: ignore[no-any-return]


def _scene_cells(frame: Frame) -> Floats:
    """The grey picture as 96 small patches (one per GRID cell, 12 x 10 px), smoothed."""
    cells = frame.cached("scene_cells")
    if cells is None:
        cols, rows = GRID
        small = cv2.resize(
            frame.grey, (cols * _PATCH[0], rows * _PATCH[1]), interpolation=cv2.INTER_AREA
        )
        smooth = cv2.GaussianBlur(small.astype(np.float32), (0, 0), 0.8)
        patches = smooth.reshape(rows, _PATCH[1], cols, _PATCH[0]).transpose(0, 2, 1, 3)
        cells = patches.reshape(rows * cols, _PATCH[0] * _PATCH[1])
        cells = cells - cells.mean(axis=1, keepdims=True)
        frame.keep("scene_cells", cells)
    return cells  # type: ignore[no-any-return]


def similarity(frame: Frame, reference: Frame, visible: Any = None) -> float:
    """How much ``frame`` still looks like ``reference``, place by place (-1..1).

    The median, over the reference's cells that have structure, of the correlation of the
    two pictures' small patches: gain and offset do not matter (a darker picture of the same
    view stays similar), defocus matters little at this size, and a different view scores
    near 0 almost everywhere.  ``visible``: optional flat boolean sequence over GRID cells
    to compare (an occluder's cells left out).
    """
    a, b = _scene_cells(frame), _scene_cells(reference)
    energy_b = (b * b).sum(axis=1)
    use = energy_b >= _PATCH[0] * _PATCH[1] * 16.0  # reference patch std >= 4 grey levels
    if visible is not None:
        use &= np.asarray(visible, bool)
    if use.sum() < 4:
        return 0.0
    a, b, energy_b = a[use], b[use], energy_b[use]
    energy_a = (a * a).sum(axis=1)
    ncc = (a * b).sum(axis=1) / np.sqrt(np.maximum(energy_a * energy_b, 1e-6))
    return float(np.median(ncc))


def _inliers(frame: Frame, reference: Frame, rules: VqdRules) -> int | None:
    """ORB matches consistent with the reference seen from (nearly) the same place.

    A fixed camera that still sees its scene maps onto its reference by a near-identity
    similarity (a pole sways: a few % of shift, a few degrees); matches that agree on such a
    transform are counted.  A camera turned elsewhere, or zoomed, keeps none.  None when
    either picture has too few features to tell (blurred, dark, plain).
    """
    pts, des = _features(frame, rules)
    ref_pts, ref_des = _features(reference, rules)
    if des is None or ref_des is None or min(len(des), len(ref_des)) < rules.scene_min_features:
        return None
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(des, ref_des, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    if len(good) < 4:
        return 0
    src = pts[[m.queryIdx for m in good]]
    dst = ref_pts[[m.trainIdx for m in good]]
    matrix, mask = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0
    )
    if matrix is None or mask is None:
        return 0
    scale = math.hypot(float(matrix[0, 0]), float(matrix[1, 0]))
    angle = math.degrees(math.atan2(float(matrix[1, 0]), float(matrix[0, 0])))
    shift = math.hypot(float(matrix[0, 2]), float(matrix[1, 2]))
    if not 0.85 < scale < 1.18 or abs(angle) > 8 or shift > 0.15 * frame.width:
        return 0
    return int(mask.sum())


def measure(
    frame: Frame,
    *,
    previous: Frame | None = None,
    reference: Frame | None = None,
    rules: VqdRules = VqdRules(),  # noqa: B008 - frozen dataclass, immutable default
) -> Metrics:
    """Every metric of ``frame``; change against ``previous`` and ``reference`` when given."""
    grey = frame.grey
    grey_f = grey.astype(np.float32)
    mean, std = cv2.meanStdDev(grey)
    brightness, contrast = float(mean[0, 0]), float(std[0, 0])
    small = cv2.resize(
        grey, (max(grey.shape[1] // 8, 1), max(grey.shape[0] // 8, 1)), interpolation=cv2.INTER_AREA
    )
    # Spread of the content, robust to a burnt-in OSD (a few % of the picture): the 5-95 %
    # range of the small picture, scaled to a standard deviation.
    low, high = np.percentile(small, (5, 95))
    spread = float(high - low) / 3.29

    # Detail and sharpness at two scales.  The coarse scale (the half-size Gaussian pyramid
    # level) hides sensor noise and JPEG ringing: its mean |gradient| per cell is the amount
    # of edge there, which defocus keeps and something on the lens removes.  Sharpness is
    # the ratio of gradient energy at the fine and the coarse scale: about 3 for crisp edges,
    # towards 1 for defocused ones, whatever the contrast (an edge-width measure in the
    # spirit of Marziliano et al. 2002, which noise and exposure do not fool as the raw
    # variance of the Laplacian is fooled).  Gradients are per full-size pixel.
    coarse = cv2.pyrDown(grey_f)
    cx = cv2.Sobel(coarse, cv2.CV_32F, 1, 0, ksize=3, scale=0.5)
    cy = cv2.Sobel(coarse, cv2.CV_32F, 0, 1, ksize=3, scale=0.5)
    gradient = cv2.add(np.abs(cx), np.abs(cy))
    fx = cv2.Sobel(grey_f, cv2.CV_32F, 1, 0, ksize=3)
    fy = cv2.Sobel(grey_f, cv2.CV_32F, 0, 1, ksize=3)
    fine_energy = _grid(cv2.add(cv2.multiply(fx, fx), cv2.multiply(fy, fy)))
    coarse_energy = _grid(cv2.add(cv2.multiply(cx, cx), cv2.multiply(cy, cy)))
    cells_sharpness = fine_energy / np.maximum(coarse_energy, 1.0)
    cells_texture = _grid(gradient)
    detailed = cells_texture >= TEXTURED_CELL
    sharpness = float(np.median(cells_sharpness[detailed])) if detailed.any() else 1.0
    edge_density = float(np.count_nonzero(gradient > EDGE_LEVEL)) / gradient.size
    noise = _median_abs(cv2.filter2D(grey, cv2.CV_16S, _NOISE_KERNEL)) * _MAD_TO_SIGMA

    da, db, chroma_spread, colourful, dominant, thumb = _colour(frame)
    cast_d = math.hypot(da, db)
    ir_grey = colourful < rules.ir_max_colourful and cast_d < rules.ir_max_tint
    uniform = _uniform(thumb, dominant, rules.no_signal_tolerance)
    dominant_grey = 0.114 * dominant[0] + 0.587 * dominant[1] + 0.299 * dominant[2]

    frozen_changed: float | None = None
    if previous is not None and previous.grey.shape == grey.shape:
        diff = cv2.absdiff(grey, previous.grey)
        frozen_changed = float(np.count_nonzero(diff > rules.frozen_pixel_delta)) / diff.size
    scene_inliers: int | None = None
    scene_similarity: float | None = None
    if reference is not None:
        scene_inliers = _inliers(frame, reference, rules)
        scene_similarity = similarity(frame, reference)

    return Metrics(
        width=frame.width,
        height=frame.height,
        source_width=frame.source_width,
        source_height=frame.source_height,
        brightness=brightness,
        contrast=contrast,
        spread=spread,
        sharpness=sharpness,
        edge_density=edge_density,
        noise=noise,
        chroma_a=da,
        chroma_b=db,
        chroma_spread=chroma_spread,
        colourful=colourful,
        cast_d=cast_d,
        cast_k=cast_d / max(chroma_spread, 0.5),
        ir_grey=ir_grey,
        uniform=uniform,
        dominant=dominant,
        centre_marks=_centre_marks(grey, dominant_grey),
        frozen_changed=frozen_changed,
        scene_inliers=scene_inliers,
        scene_similarity=scene_similarity,
        cells_texture=_cells(cells_texture),
        cells_sharpness=_cells(cells_sharpness),
        cells_mean=_cells(_grid(grey_f)),
    )
