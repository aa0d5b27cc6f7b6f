"""Camera pictures for the simulator and the VQD tests: street-like scenes and picture faults.

Pure numpy + OpenCV, deterministic for a given seed.  ``scene`` paints a healthy view (each
seed its own street: sky, buildings with windows, a road in perspective, trees, poles, parked
cars; styles rotate: sunny, overcast, a plain wall filling most of the view, a busy shopping
street, dusk); ``live`` turns it into the picture at time ``t`` (fresh sensor noise, an OSD
burnt in); ``apply_fault`` renders one of the picture faults of DESIGN §5; ``night_ir``
renders the same view as an infrared night picture.

Usual composition: ``live(apply_fault(base, kind, seed=...), t, seed=..., osd=...)``.  For
``frozen``, repeat one live frame (``live`` with the same ``t``, a new OSD clock if you like).
``no_signal`` is an encoder screen: best served without sensor noise (``noise_sigma=0``),
though VQD recognises it either way.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from bridge.simulator.faults import PICTURE_KINDS  # one list, checked there without OpenCV

__all__ = ["PICTURE_KINDS", "apply_fault", "live", "night_ir", "scene"]

_STYLES = ("day", "overcast", "wall", "busy", "dusk")
_SKIES = {  # BGR top and horizon colours
    "day": ((190, 120, 60), (235, 205, 170)),
    "overcast": ((185, 180, 175), (220, 218, 215)),
    "wall": ((200, 150, 100), (230, 215, 195)),
    "busy": ((200, 140, 80), (230, 210, 185)),
    "dusk": ((120, 70, 60), (120, 160, 230)),
}
_FACADES = (
    (150, 160, 175),
    (95, 105, 160),
    (190, 200, 205),
    (160, 185, 210),
    (120, 120, 125),
    (205, 215, 225),
    (110, 140, 170),
    (170, 170, 160),
)
_CAR_COLOURS = (
    (30, 30, 30),
    (235, 235, 235),
    (40, 40, 170),
    (150, 90, 30),
    (150, 150, 150),
    (30, 140, 200),
    (60, 60, 60),
    (200, 200, 205),
)
_OCCLUDERS = (  # BGR: leaves, dirt, a black bag, paper, a hand
    (40, 60, 50),
    (50, 70, 90),
    (25, 25, 25),
    (200, 200, 195),
    (120, 150, 190),
)
_CASTS = (  # BGR gains and tint direction: red, green, blue, yellow, magenta, cyan
    ((0.55, 0.6, 1.0), (0, 0, 1)),
    ((0.55, 1.0, 0.55), (0, 1, 0)),
    ((1.0, 0.7, 0.45), (1, 0, 0)),
    ((0.4, 1.0, 1.0), (0, 1, 1)),
    ((1.0, 0.5, 0.95), (1, 0, 1)),
    ((1.0, 1.0, 0.45), (1, 1, 0)),
)


def _rng(seed: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, salt])


def _jitter(rng: np.random.Generator, colour: tuple[int, ...], spread: int) -> tuple[int, ...]:
    offsets = rng.integers(-spread, spread + 1, len(colour))
    return tuple(min(max(int(c + d), 0), 255) for c, d in zip(colour, offsets, strict=True))


def _sky(img: np.ndarray, style: str, horizon: int, rng: np.random.Generator) -> None:
    top, low = (np.array(c, np.float32) for c in _SKIES[style])
    ramp = np.linspace(0.0, 1.0, max(horizon, 1), dtype=np.float32)[:, None]
    img[:horizon] = (top + (low - top) * ramp)[:, None, :].astype(np.uint8)
    if style in ("day", "overcast", "busy"):
        h, w = img.shape[:2]
        for _ in range(int(rng.integers(2, 6))):
            centre = (int(rng.integers(0, w)), int(rng.integers(0, max(horizon * 2 // 3, 1))))
            axes = (int(w * rng.uniform(0.05, 0.15)), int(h * rng.uniform(0.02, 0.05)))
            cv2.ellipse(img, centre, axes, 0, 0, 360, (240, 240, 240), -1, cv2.LINE_AA)
        # Soft cloud edges; blurred at a quarter size, which costs a sixteenth.
        small = cv2.resize(
            img[:horizon], (max(w // 4, 1), max(horizon // 4, 1)), interpolation=cv2.INTER_AREA
        )
        small = cv2.GaussianBlur(small, (0, 0), max(w / 600, 0.5))
        img[:horizon] = cv2.resize(small, (w, horizon), interpolation=cv2.INTER_LINEAR)


def _building(
    img: np.ndarray, x0: int, x1: int, top: int, ground: int, rng: np.random.Generator, busy: bool
) -> None:
    facade = _jitter(rng, _FACADES[int(rng.integers(len(_FACADES)))], 12)
    cv2.rectangle(img, (x0, top), (x1, ground), facade, -1)
    cv2.line(img, (x0, top), (x1, top), tuple(c * 3 // 4 for c in facade), 2)
    bw, bh = x1 - x0, ground - top
    cols, rows = int(rng.integers(2, 7)), int(rng.integers(2, 9))
    ww, wh = bw / (cols * 1.8 + 0.8), bh / (rows * 1.9 + 0.6)
    if ww < 3 or wh < 3:
        return
    for r in range(rows):
        for c in range(cols):
            wx, wy = int(x0 + ww * (0.8 + 1.8 * c)), int(top + wh * (0.6 + 1.9 * r))
            lit = rng.random() < 0.15
            glass = (150, 200, 230) if lit else _jitter(rng, (90, 75, 60), 20)
            cv2.rectangle(img, (wx, wy), (int(wx + ww), int(wy + wh)), glass, -1)
    if busy:  # shop signs along the ground floor: colour and letters
        sign = _jitter(rng, (40, 60, 200), 80)
        sy = int(ground - bh * 0.15)
        cv2.rectangle(img, (x0 + 2, sy), (x1 - 2, int(sy + bh * 0.07)), sign, -1)
        letters = "".join(chr(int(rng.integers(65, 91))) for _ in range(6))
        cv2.putText(
            img,
            letters,
            (x0 + 4, int(sy + bh * 0.06)),
            cv2.FONT_HERSHEY_SIMPLEX,
            max(bh * 0.002, 0.3),
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )


def _car(img: np.ndarray, x: int, y: int, size: float, rng: np.random.Generator) -> None:
    w, h = int(size * 2.2), int(size)
    colour = _jitter(rng, _CAR_COLOURS[int(rng.integers(len(_CAR_COLOURS)))], 10)
    cv2.rectangle(img, (x, y - h // 2), (x + w, y), colour, -1)
    cv2.rectangle(img, (x + w // 5, y - h), (x + w * 4 // 5, y - h // 2), colour, -1)
    cv2.rectangle(
        img, (x + w // 4, y - h * 9 // 10), (x + w * 3 // 4, y - h // 2), (60, 50, 40), -1
    )
    for wx in (x + w // 5, x + w * 4 // 5):
        cv2.circle(img, (wx, y), max(h // 4, 1), (20, 20, 20), -1, cv2.LINE_AA)


def _tree(img: np.ndarray, x: int, ground: int, size: float, rng: np.random.Generator) -> None:
    cv2.rectangle(
        img,
        (x - int(size * 0.06), int(ground - size * 0.6)),
        (x + int(size * 0.06), ground),
        (40, 60, 80),
        -1,
    )
    for _ in range(7):
        centre = (int(x + rng.normal(0, size * 0.2)), int(ground - size * rng.uniform(0.6, 1.1)))
        green = _jitter(rng, (50, 120, 60), 25)
        cv2.circle(img, centre, int(size * rng.uniform(0.2, 0.35)), green, -1, cv2.LINE_AA)


def scene(seed: int, width: int, height: int) -> np.ndarray:
    """A healthy street-like view (uint8 BGR, ``height`` x ``width``), the same for the same seed.

    Styles rotate with the seed: sunny day, overcast, a plain wall filling most of the view,
    a busy shopping street, dusk.
    """
    rng = _rng(seed, 1)
    style = _STYLES[seed % len(_STYLES)]
    w, h = width, height
    img = np.empty((h, w, 3), np.uint8)
    horizon = int(h * rng.uniform(0.28, 0.42))
    _sky(img, style, horizon, rng)
    ground = int(horizon + h * rng.uniform(0.06, 0.14))
    pavement = _jitter(rng, (150, 155, 160) if style != "dusk" else (90, 90, 100), 15)
    img[horizon:] = pavement
    x = -int(rng.integers(0, w // 10 + 1))
    while x < w:  # the row of buildings
        bw = int(w * rng.uniform(0.08, 0.22))
        top = int(horizon - h * rng.uniform(0.02, 0.3))
        _building(img, x, x + bw, max(top, 0), ground, rng, style == "busy")
        x += bw + int(rng.integers(0, w // 40 + 1))
    vx = int(w * rng.uniform(0.3, 0.7))  # vanishing point of the road
    road = np.array(
        [[vx - w // 40, ground], [vx + w // 40, ground], [int(w * 1.25), h], [int(-w * 0.25), h]],
        np.int32,
    )
    cv2.fillPoly(img, [road], _jitter(rng, (85, 85, 88), 10), cv2.LINE_AA)
    for lane in (-0.45, 0.0, 0.45):  # dashed lane markings converging on the vanishing point
        bottom_x = vx + (w * 0.75 + (vx - w / 2) * 0.3) * lane
        for i in range(12):
            t0, t1 = (i / 12) ** 2, ((i + 0.5) / 12) ** 2
            p0 = (int(vx + (bottom_x - vx) * t0), int(ground + (h - ground) * t0))
            p1 = (int(vx + (bottom_x - vx) * t1), int(ground + (h - ground) * t1))
            cv2.line(img, p0, p1, (225, 225, 225), max(int(w * 0.006 * (t1 + 0.1)), 1))
    for _ in range(int(rng.integers(2, 8 if style == "busy" else 5))):
        side = -1 if rng.random() < 0.5 else 1
        t = rng.uniform(0.15, 0.9)
        y = int(ground + (h - ground) * t)
        cx = int(vx + side * (w * 0.45 * t + w * 0.05))
        _car(img, cx - int(h * 0.12 * t), y, h * 0.12 * t + 2, rng)
    for _ in range(int(rng.integers(1, 5))):
        t = rng.uniform(0.1, 0.7)
        gx = int(rng.choice([rng.uniform(0, 0.25), rng.uniform(0.75, 1.0)]) * w)
        gy = int(ground + (h - ground) * t * 0.4)
        if rng.random() < 0.6:
            _tree(img, gx, gy, h * (0.15 + 0.35 * t), rng)
        else:  # a lamp or camera pole
            cv2.line(img, (gx, gy), (gx, int(gy - h * (0.3 + 0.3 * t))), (70, 70, 75), 3)
            top = int(gy - h * (0.3 + 0.3 * t))
            cv2.line(img, (gx, top), (gx + int(w * 0.04), top + h // 100), (70, 70, 75), 3)
    if style == "wall":  # a plain painted wall close to the camera fills most of the view
        colour = _jitter(rng, (200, 205, 210), 25)
        wx = int(w * rng.uniform(0.55, 0.85))
        left = rng.random() < 0.5
        x0, x1 = (0, wx) if left else (w - wx, w)
        img[:, x0:x1] = colour
        cv2.rectangle(
            img, (x0 + (x1 - x0) // 3, h // 3), (x0 + (x1 - x0) // 2, h), (90, 90, 100), -1
        )
        cv2.line(
            img, (x0 + (x1 - x0) * 4 // 5, 0), (x0 + (x1 - x0) * 4 // 5, h), (150, 150, 150), 4
        )
    # Uneven light and fine grain: real surfaces are never flat colour.
    shade = cv2.resize(
        rng.uniform(0.88, 1.12, (6, 8)).astype(np.float32),
        (w // 8, h // 8),
        interpolation=cv2.INTER_CUBIC,
    )
    shade = cv2.resize(shade, (w, h), interpolation=cv2.INTER_LINEAR)
    out = cv2.multiply(img, cv2.merge([shade, shade, shade]), dtype=cv2.CV_8U)
    grain = rng.integers(-6, 7, (h, w), dtype=np.int8).astype(np.int16)
    out = cv2.add(out, cv2.merge([grain, grain, grain]), dtype=cv2.CV_8U)
    return cv2.GaussianBlur(out, (0, 0), 0.7)


@lru_cache(maxsize=8)
def _noise_pool(size: int) -> np.ndarray:
    # One long field of Gaussian noise (sigma 1) per picture size; each frame takes a window
    # at a random offset, so a fresh frame costs an add, not a million random draws.
    rng = np.random.default_rng(0x5E45)
    return rng.standard_normal(size + (1 << 16), dtype=np.float32)


def _gauss(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Unit Gaussian noise of ``shape`` (float32): a window of the cached pool."""
    size = int(np.prod(shape))
    pool = _noise_pool(size)
    offset = int(rng.integers(0, 1 << 16))
    return pool[offset : offset + size].reshape(shape)


def live(
    base: np.ndarray, t: float, *, seed: int, osd: str | None = None, noise_sigma: float = 2.0
) -> np.ndarray:
    """The camera's picture at time ``t``: ``base`` + sensor noise that differs for each ``t``.

    ``osd`` is burnt in at the top left, white with a black outline, as cameras do.
    """
    rng = _rng(seed, int(t * 1000) & 0xFFFFFFFF)
    noise = _gauss(rng, base.shape) * np.float32(noise_sigma)
    out = cv2.add(base, noise, dtype=cv2.CV_8U)
    if osd:
        scale = base.shape[0] / 720
        origin = (int(20 * scale), int(40 * scale))
        for colour, thick in (((0, 0, 0), 4), ((255, 255, 255), 2)):
            cv2.putText(
                out,
                osd,
                origin,
                cv2.FONT_HERSHEY_SIMPLEX,
                0.9 * scale,
                colour,
                max(1, int(thick * scale)),
                cv2.LINE_AA,
            )
    return out


def _mean_grey(image: np.ndarray) -> float:
    return float(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).mean())


def _occluder_mask(h: int, w: int, cover: float, rng: np.random.Generator) -> np.ndarray:
    anchors = ((0, 0), (1, 0), (0, 1), (1, 1), (0.5, 0), (0.5, 1), (0, 0.5), (1, 0.5))
    ax, ay = anchors[int(rng.integers(len(anchors)))]
    lobes = [
        (
            rng.uniform(-0.15, 0.15),
            rng.uniform(-0.15, 0.15),
            rng.uniform(0.6, 1.0),
            rng.uniform(0.6, 1.0),
        )
        for _ in range(3)
    ]
    sw, sh = 160, max(int(160 * h / w), 1)

    def paint(scale: float) -> np.ndarray:
        m = np.zeros((sh, sw), np.uint8)
        for dx, dy, fx, fy in lobes:
            centre = (int((ax + dx * scale) * sw), int((ay + dy * scale) * sh))
            axes = (int(sw * scale * fx), int(sh * scale * fy))
            cv2.ellipse(m, centre, axes, 0, 0, 360, 255, -1)
        return m

    low, high = 0.05, 2.0  # binary search of the size that covers the wanted share
    for _ in range(12):
        mid = (low + high) / 2
        low, high = (mid, high) if (paint(mid) > 0).mean() < cover else (low, mid)
    # Something on the lens is far out of focus: its border is a wide soft ramp.
    small = cv2.GaussianBlur(paint(high).astype(np.float32) / 255.0, (0, 0), sw * 0.02)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def apply_fault(image: np.ndarray, kind: str, *, seed: int, strength: float = 1.0) -> np.ndarray:
    """``image`` with the picture fault ``kind`` (one of PICTURE_KINDS); a new array.

    ``strength`` in (0, 1] scales the severity of black, blur, occluded, color_cast, too_dark,
    too_bright and noise.  ``frozen`` returns the image unchanged (the caller repeats it);
    ``scene_changed`` returns another street's view; ``no_signal`` a vendor "no video" screen.
    Raises ValueError for an unknown kind or a strength outside (0, 1].
    """
    if kind not in PICTURE_KINDS:
        raise ValueError(f"unknown picture fault {kind!r}")
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must be in (0, 1], not {strength}")
    rng = _rng(seed, 2)
    h, w = image.shape[:2]
    s = strength
    img = image.astype(np.float32)
    if kind == "frozen":
        return image.copy()
    if kind == "scene_changed":
        other = scene(int(rng.integers(1 << 30)) * 5 + seed % 5 + 1, w, h)
        return other
    if kind == "black":  # lens cap, dead sensor, video loss after the ISP: a dark, flat field
        level = rng.uniform(0, 12) + img * (0.06 * (1 - s))
        out = level + _gauss(rng, (h, w, 1))
    elif kind == "blur":  # defocus
        sigma = (1.8 + 5.0 * s) * w / 1280
        out = cv2.GaussianBlur(img, (0, 0), sigma)
    elif kind == "occluded":
        mask = _occluder_mask(h, w, 0.3 + 0.4 * s, rng)
        colour = np.array(
            _jitter(rng, _OCCLUDERS[int(rng.integers(len(_OCCLUDERS)))], 15), np.float32
        )
        shade = cv2.resize(rng.uniform(0.75, 1.2, (3, 4)).astype(np.float32), (w, h))
        thing = colour[None, None, :] * shade[:, :, None]
        out = img * (1 - mask[:, :, None]) + thing * mask[:, :, None]
    elif kind == "color_cast":
        gains, tint = _CASTS[int(rng.integers(len(_CASTS)))]
        g = 1 - (1 - np.array(gains, np.float32)) * (0.55 + 0.45 * s)
        out = img * g + np.array(tint, np.float32) * (20 * s)
        out *= _mean_grey(image) / max(float(out.mean()), 1.0)
    elif kind == "too_dark":  # underexposed: the camera's gain gives up, noise rises
        target = 28 - 7 * s  # 21-25: too dark, yet not black (< 20 and flat)
        out = img * (target / max(_mean_grey(image), 1.0))
        out += _gauss(rng, (h, w, 1)) * 2.0
    elif kind == "too_bright":  # overexposed: everything pushed towards white and clipped
        target = 226 + 18 * s
        k = (255 - target) / max(255 - _mean_grey(image), 1.0)
        out = 255 - (255 - img) * k
    elif kind == "noise":  # "snow": heavy grain, horizontal interference, salt and pepper
        sigma = 14 + 24 * s
        grain = _gauss(rng, (h, w, 1)) * np.float32(sigma)
        colour_grain = _gauss(rng, (h, w, 3)) * np.float32(sigma * 0.4)
        rows = cv2.resize(rng.standard_normal((h, w // 8), np.float32), (w, h)) * (sigma * 0.6)
        out = img + grain + colour_grain + rows[:, :, None]
        dots = np.abs(_gauss(rng, (h, w))) > 2.58 + 0.3 * (1 - s)  # about 1 % of the pixels
        out[dots] = rng.choice([0.0, 255.0], size=(int(dots.sum()), 1)).astype(np.float32)
    else:  # no_signal: an NVR/encoder screen, uniform colour with a message in the middle
        backgrounds = ((160, 40, 10), (120, 0, 0), (0, 0, 0), (128, 128, 128), (90, 20, 20))
        out_u8 = np.empty_like(image)
        out_u8[:] = backgrounds[int(rng.integers(len(backgrounds)))]
        text = ("NO SIGNAL", "NO VIDEO", "VIDEO LOSS")[int(rng.integers(3))]
        scale = h / 360
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(int(2 * scale), 1))
        cv2.putText(
            out_u8,
            text,
            ((w - tw) // 2, (h + th) // 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            max(int(2 * scale), 1),
            cv2.LINE_AA,
        )
        return out_u8
    result: np.ndarray = np.clip(out, 0, 255).astype(np.uint8)
    return result


def night_ir(image: np.ndarray, *, seed: int) -> np.ndarray:
    """The same view as an infrared night picture: grey, flatter, noisier, darker corners.

    Foliage reflects near infrared, so green areas come out light; the illuminator lights the
    near (lower) part of the view more; a slight uniform tint is common.
    """
    rng = _rng(seed, 3)
    h, w = image.shape[:2]
    b, g, r = (c.astype(np.float32) for c in cv2.split(image))
    foliage = np.clip(g - np.maximum(r, b), 0, None)
    grey = 0.3 * r + 0.45 * g + 0.25 * b + 1.5 * foliage
    grey = grey.mean() + (grey - grey.mean()) * rng.uniform(0.55, 0.8)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    radius = ((xs - w / 2) / (w / 2)) ** 2 + ((ys - h / 2) / (h / 2)) ** 2
    light = (1 - 0.35 * radius / 2) * (0.6 + 0.4 * ys / h)
    grey = grey * light * rng.uniform(0.7, 1.0)
    grey = cv2.GaussianBlur(grey, (0, 0), 0.9) + _gauss(rng, (h, w)) * 4.0
    tint = rng.uniform(-3, 3, 3).astype(np.float32)
    out = grey[:, :, None] + tint[None, None, :]
    result: np.ndarray = np.clip(out, 0, 255).astype(np.uint8)
    return result
