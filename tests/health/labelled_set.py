"""A labelled set of camera pictures for the VQD acceptance test (generated, deterministic).

Cameras: real photos bundled inside the scikit-image wheel (no downloads), cropped to 16:9
and sized like camera streams — some at sub-stream size (640x360), some upscaled (soft
cameras) — and synthetic streets from ``bridge.simulator.pictures.scene`` at 960x540,
1280x720 and 1920x1080.  Every picture passes a simulated sensor (fresh noise, a burnt-in
OSD clock) and JPEG, and is decoded with ``decode_jpeg``, as snapshots are.

Each camera is handled as the daemon would: the baseline is learned from two healthy
pictures, a third becomes the reference, and every later picture is compared with the one
taken before it.  Then come a healthy picture, one picture per fault and four healthy hard
cases.  Fault pictures come from two independent renderers — the simulator's
``apply_fault`` and a second one here (disk defocus, Lab white-balance shift, plain Gaussian
noise, solid polygon occluders, gamma under-/over-exposure, bare blue screens, a camera
turned to the other half of its street) — at strengths between 0.5 and 1.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from bridge.simulator.pictures import PICTURE_KINDS, apply_fault, live, night_ir, scene
from health.vqd import Baseline, Diagnosis, Frame, decode_jpeg, diagnose, learn
from health.vqd import is_healthy_for_learning as learnable

Image = np.ndarray

# Mostly 960x540 (fast to make); some 1280x720, one 1920x1080 (the DCT-scaled decode).
SYNTHETIC_SIZES = (
    (960, 540),
    (1280, 720),
    (960, 540),
    (960, 540),
    (1920, 1080),
    (960, 540),
    (960, 540),
    (1280, 720),
    (960, 540),
    (960, 540),
)
SYNTHETIC_CAMERAS = 22
HARD_CASES = (
    "night_ir",
    "night_ir_window",
    "rain",
    "brightness_drift",
    "osd_change",
    "shaken",
    "low_quality",
)
HARD_PER_CAMERA = 4


@dataclass(frozen=True, slots=True)
class Case:
    """One judged picture: the truth (``label``), how it was made, and the diagnosis."""

    camera: str
    label: str  # "healthy" or a fault code
    case: str
    diagnosis: Diagnosis

    @property
    def faults(self) -> tuple[str, ...]:
        return self.diagnosis.faults


def _fit(image: Image, width: int, height: int, *, x: float = 0.5, y: float = 0.5) -> Image:
    """A 16:9 crop of ``image`` (placed at x, y of the free room) resized to width x height."""
    h, w = image.shape[:2]
    cw, ch = (w, round(w * 9 / 16)) if w * 9 / 16 <= h else (round(h * 16 / 9), h)
    x0, y0 = round((w - cw) * x), round((h - ch) * y)
    crop = image[y0 : y0 + ch, x0 : x0 + cw]
    interp = cv2.INTER_AREA if cw > width else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(crop, (width, height), interpolation=interp))


def photo_cameras() -> list[tuple[str, Image, Image | None]]:
    """(name, view, None) for camera views made of the photos shipped in scikit-image."""
    data: Any = importlib.import_module("skimage.data")  # untyped; its photos are bundled

    def bgr(rgb: Image) -> Image:
        return np.ascontiguousarray(rgb[:, :, ::-1])

    left, _, _ = data.stereo_motorcycle()
    brick = data.brick().astype(np.float32)  # grey: tint it like a painted brick wall
    brick_bgr = np.clip(np.dstack([brick * 0.70, brick * 0.82, brick * 0.95 + 20]), 0, 255)
    views = [
        ("astronaut", _fit(bgr(data.astronaut()), 640, 360, y=0.3)),
        ("coffee", _fit(bgr(data.coffee()), 640, 360)),
        ("chelsea", _fit(bgr(data.chelsea()), 640, 360)),
        ("rocket", _fit(bgr(data.rocket()), 640, 360)),
        ("rocket-hd", _fit(bgr(data.rocket()), 1280, 720, y=0.2)),
        ("motorcycle", _fit(bgr(left), 1280, 720)),
        ("cameraman-mono", _fit(cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR), 640, 360, y=0.2)),
        ("brick-wall", _fit(brick_bgr.astype(np.uint8), 960, 540)),
        ("astronaut-zoom", _fit(bgr(data.astronaut())[:300, 200:], 960, 540)),
        ("coffee-hd", _fit(bgr(data.coffee()), 1280, 720, y=0.8)),
    ]
    return [(name, view, None) for name, view in views]


def synthetic_cameras() -> list[tuple[str, Image, Image | None]]:
    """(name, view, the other half of its street) for synthetic street cameras."""
    out: list[tuple[str, Image, Image | None]] = []
    for seed in range(SYNTHETIC_CAMERAS):
        w, h = SYNTHETIC_SIZES[seed % len(SYNTHETIC_SIZES)]
        street = scene(seed + 100, 2 * w, h)  # the camera sees one half; turned, the other
        out.append((f"street-{seed}", street[:, :w].copy(), street[:, w:].copy()))
    return out


def _u8(values: np.ndarray) -> Image:
    """Values clipped to 0-255 as a uint8 picture."""
    out: Image = np.clip(values, 0, 255).astype(np.uint8)
    return out


def _jpeg(image: Image, quality: int) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return bytes(data.tobytes())


def _mean_grey(image: Image) -> float:
    return float(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).mean())


def _tone(image: Image, curve: np.ndarray) -> Image:
    return np.asarray(cv2.LUT(image, np.clip(curve, 0, 255).astype(np.uint8)))


# The second renderer: the same faults made differently from the simulator's.


def _defocus(image: Image, s: float) -> Image:
    """A lens out of focus: a disk kernel, radius 2-6 px at the 640-px analysis size."""
    radius = (2.0 + 4.0 * s) * image.shape[1] / 640
    k = int(np.ceil(radius))
    disk = np.zeros((2 * k + 1, 2 * k + 1), np.float32)
    cv2.circle(disk, (k, k), max(round(radius), 1), 1.0, -1, cv2.LINE_AA)
    return np.asarray(cv2.filter2D(image, -1, disk / disk.sum()))


def _white_balance(image: Image, rng: np.random.Generator, s: float) -> Image:
    """A white-balance failure: the whole picture's chroma shifted by 25-45 Lab units."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2Lab).astype(np.float32)
    angle, shift = rng.uniform(0, 2 * np.pi), 15 + 30 * s
    lab[:, :, 1] += shift * np.cos(angle)
    lab[:, :, 2] += shift * np.sin(angle)
    return np.asarray(cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_Lab2BGR))


def _grain(image: Image, rng: np.random.Generator, s: float) -> Image:
    """Plain Gaussian colour noise, sigma 20-30 grey levels at the camera's resolution."""
    noise = rng.standard_normal(image.shape, np.float32) * (10 + 20 * s)
    return _u8(image + noise)


def _polygon_occluder(image: Image, rng: np.random.Generator, s: float) -> Image:
    """A solid object right at the lens, entering from one side: 30-70 % of the view."""
    h, w = image.shape[:2]
    reach = 0.3 + 0.4 * s  # share of the width (or height) it covers
    side = int(rng.integers(4))
    wobble = rng.uniform(-0.1, 0.1, 4)
    points = {
        0: [(0, 0), ((reach + wobble[0]) * w, 0), ((reach + wobble[1]) * w, h), (0, h)],
        1: [(w, 0), ((1 - reach - wobble[0]) * w, 0), ((1 - reach - wobble[1]) * w, h), (w, h)],
        2: [(0, 0), (w, 0), (w, (reach + wobble[2]) * h), (0, (reach + wobble[3]) * h)],
        3: [(0, h), (w, h), (w, (1 - reach - wobble[2]) * h), (0, (1 - reach - wobble[3]) * h)],
    }[side]
    shape = np.zeros((h, w), np.float32)
    cv2.fillPoly(shape, [np.array(points, np.int32)], 1.0)
    mask = cv2.GaussianBlur(shape, (0, 0), w * 0.01)[:, :, None]
    colour = np.array(rng.choice([(20, 20, 20), (35, 45, 40), (60, 60, 70)]), np.float32)
    return _u8(image * (1 - mask) + colour * mask)


def _gamma_to(image: Image, target: float, *, dark: bool) -> Image:
    """A tone curve (crushed shadows or blown highlights) bringing the mean grey to target."""
    levels = np.arange(256, dtype=np.float32) / 255.0
    low, high = (1.0, 30.0) if dark else (0.02, 1.0)
    for _ in range(20):
        gamma = (low + high) / 2
        mean = _mean_grey(_tone(image, 255 * levels**gamma))
        # Larger gamma darkens: go up when too bright, down when too dark.
        if mean > target:
            low = gamma
        else:
            high = gamma
    return _tone(image, 255 * levels ** ((low + high) / 2))


def _fault_picture(cam: _Camera, kind: str) -> tuple[str, Image, float]:
    """A picture with fault ``kind``, how it was made, and the sensor noise it gets."""
    rng = cam.rng
    s = float(rng.choice([0.5, 0.6, 0.7, 0.8, 0.9, 1.0]))
    seed = int(rng.integers(1 << 30))
    base = cam.base
    h, w = base.shape[:2]
    if kind == "scene_changed":
        pick = int(rng.integers(3)) if cam.turned is not None else int(rng.integers(2))
        if pick == 0:
            other = cam.others[int(rng.integers(len(cam.others)))]
            return "another camera's view", cv2.resize(other, (w, h)), 2.0
        if pick == 1:
            return "another street", apply_fault(base, kind, seed=seed), 2.0
        assert cam.turned is not None
        return "camera turned to the other half of its street", cam.turned, 2.0
    if rng.random() < 0.5 or kind == "frozen":
        noise = 0.0 if kind == "no_signal" else 2.0  # encoder screens carry no sensor noise
        return f"simulator, strength {s:.1f}", apply_fault(base, kind, seed=seed, strength=s), noise
    how = f"second renderer, strength {s:.1f}"
    if kind == "black":  # dead video: zeros; only the OSD is drawn by the encoder
        return how, np.zeros_like(base), 0.5
    if kind == "blur":
        return how, _defocus(base, s), 2.0
    if kind == "occluded":
        return how, _polygon_occluder(base, rng, s), 2.0
    if kind == "color_cast":
        return how, _white_balance(base, rng, s), 2.0
    if kind == "too_dark":
        return how, _gamma_to(base, 28 - 7 * s, dark=True), 2.5
    if kind == "too_bright":
        return how, _gamma_to(base, 226 + 18 * s, dark=False), 2.0
    if kind == "noise":
        return how, _grain(base, rng, s), 2.0
    blue = np.empty_like(base)  # no_signal: a bare blue screen, no message
    blue[:] = (int(rng.integers(150, 256)), int(rng.integers(0, 60)), 0)
    return how, blue, 0.0


def _rain(image: Image, rng: np.random.Generator) -> Image:
    """Light rain: thin bright slanted streaks."""
    h, w = image.shape[:2]
    streaks = np.zeros((h, w), np.uint8)
    slant = rng.uniform(-0.3, 0.3)
    for _ in range(int(w * h / 4000)):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        length = int(rng.uniform(0.02, 0.05) * h)
        cv2.line(streaks, (x, y), (int(x + slant * length), y + length), 255, 1)
    veil = cv2.GaussianBlur(streaks, (0, 0), 0.8).astype(np.float32)[:, :, None] / 255.0
    return _u8(image * (1 - 0.25 * veil) + 50 * veil)


def _hard_picture(cam: _Camera, kind: str) -> tuple[str, Image, float, bool, int | None]:
    """A healthy hard case: (how, picture, sensor noise, night window, JPEG quality)."""
    rng = cam.rng
    base = cam.base
    if kind in ("night_ir", "night_ir_window"):
        window = kind == "night_ir_window"
        how = "IR night, " + ("in the night window" if window else "clock says day")
        return how, night_ir(base, seed=int(rng.integers(1 << 30))), 2.0, window, None
    if kind == "rain":
        return "light rain, more sensor noise", _rain(base, rng), 3.5, False, None
    if kind == "brightness_drift":
        gain = float(rng.choice([0.8, 0.87, 1.12, 1.2]))
        return f"brightness x{gain}", cv2.convertScaleAbs(base, alpha=gain), 2.0, False, None
    if kind == "osd_change":
        return "extra OSD text", base, 2.0, False, None
    if kind == "shaken":  # the pole sways: a shift of up to 3 %, a slight turn and zoom
        h, w = base.shape[:2]
        angle, dx = float(rng.uniform(-2, 2)), float(rng.uniform(-0.03, 0.03)) * w
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.03)
        matrix[0, 2] += dx
        moved = cv2.warpAffine(base, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
        return f"shaken {angle:+.1f} deg", moved, 2.0, False, None
    return "re-encoded at JPEG quality 35", base, 2.0, False, 35


class _Camera:
    """One camera of the set: its view, its clock, and what the daemon keeps about it."""

    def __init__(self, name: str, base: Image, turned: Image | None, index: int) -> None:
        self.name = name
        self.base = base
        self.turned = turned
        self.index = index
        self.others: list[Image] = []
        self.rng = np.random.default_rng(1000 + index)
        self.quality = int(self.rng.integers(70, 96))  # fixed per camera, as configured
        self.t = 0.0
        self.exposure = 0
        self.baseline: Baseline | None = None
        self.reference: Frame | None = None
        self.last: Frame | None = None

    def shot(
        self,
        image: Image,
        *,
        noise: float = 2.0,
        extra: str = "",
        quality: int | None = None,
        repeat: bool = False,
    ) -> Frame:
        """The camera's next snapshot of ``image``; ``repeat``: the same sensor frame again."""
        if not repeat:
            self.exposure += 1  # a new sensor frame: new noise
        self.t += 7.0  # the OSD clock moves on even when the picture does not
        clock = (
            f"CAM{self.index:03d} 2026-11-27 08:{int(self.t) // 60 % 60:02d}:{int(self.t) % 60:02d}"
        )
        osd = f"{clock} {extra}".strip()
        picture = live(image, self.exposure, seed=self.index * 7919, osd=osd, noise_sigma=noise)
        return decode_jpeg(_jpeg(picture, quality or self.quality))

    def settle(self) -> None:
        """Learn the baseline from two healthy pictures; a third becomes the reference."""
        for _ in range(2):
            frame = self.shot(self.base)
            found = diagnose(frame, previous=self.last, baseline=self.baseline)
            assert learnable(found), (self.name, found.notes)
            self.baseline = learn(self.baseline, found.metrics)
            self.last = frame
        self.reference = self.last = self.shot(self.base)

    def judge(self, frame: Frame, *, night_window: bool = False) -> Diagnosis:
        found = diagnose(
            frame,
            previous=self.last,
            reference=self.reference,
            baseline=self.baseline,
            night_window=night_window,
        )
        self.last = frame
        return found


def generate() -> Iterator[Case]:
    """Every case of the labelled set, diagnosed, camera by camera."""
    views = photo_cameras() + synthetic_cameras()
    for index, (name, base, turned) in enumerate(views):
        cam = _Camera(name, base, turned, index)
        cam.others = [view for i, (_, view, _) in enumerate(views) if i != index]
        cam.settle()
        yield Case(name, "healthy", "live picture", cam.judge(cam.shot(base)))
        for kind in PICTURE_KINDS:
            how, picture, noise = _fault_picture(cam, kind)
            if kind == "frozen":  # the encoder repeats the last sensor frame
                cam.last = cam.shot(picture)
                frame = cam.shot(picture, repeat=True)
            else:
                frame = cam.shot(picture, noise=noise)
            yield Case(name, kind, how, cam.judge(frame))
        for k in range(HARD_PER_CAMERA):
            kind = HARD_CASES[(index * HARD_PER_CAMERA + k) % len(HARD_CASES)]
            how, picture, noise, window, quality = _hard_picture(cam, kind)
            extra = "ALARM IN 1  REC" if kind == "osd_change" else ""
            frame = cam.shot(picture, noise=noise, extra=extra, quality=quality)
            yield Case(name, "healthy", how, cam.judge(frame, night_window=window))
