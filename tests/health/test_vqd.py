"""Video quality diagnosis, rule by rule, on small crafted pictures (pure; no mocks)."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from bridge.settings_vqd import VqdSettings
from bridge.simulator.pictures import PICTURE_KINDS, apply_fault, live, night_ir, scene
from health.verdict import FAULT_ORDER
from health.vqd import (
    Baseline,
    Diagnosis,
    Frame,
    VqdRules,
    decode_jpeg,
    diagnose,
    is_healthy_for_learning,
    jpeg_size,
    learn,
    prepare,
)

W, H = 960, 540


def jpeg(image: np.ndarray, quality: int = 85, **params: int) -> bytes:
    flags = [cv2.IMWRITE_JPEG_QUALITY, quality]
    for key, value in params.items():
        flags += [getattr(cv2, key), value]
    ok, data = cv2.imencode(".jpg", image, flags)
    assert ok
    return bytes(data.tobytes())


def shot(image: np.ndarray, t: float, *, noise: float = 2.0, seed: int = 1) -> Frame:
    """A camera snapshot of ``image`` at time t: sensor noise, OSD clock, JPEG, decoded."""
    osd = f"CAM001 2026-11-27 08:00:{int(t) % 60:02d}"
    return decode_jpeg(jpeg(live(image, t, seed=seed, osd=osd, noise_sigma=noise)))


def settled(image: np.ndarray, *, seed: int = 1) -> tuple[Baseline, Frame]:
    """The baseline learned from two healthy snapshots, and a reference picture."""
    baseline = None
    for t in (1.0, 2.0):
        found = diagnose(shot(image, t, seed=seed), baseline=baseline)
        assert is_healthy_for_learning(found), found.notes
        baseline = learn(baseline, found.metrics)
    assert baseline is not None
    return baseline, shot(image, 3.0, seed=seed)


@pytest.fixture(scope="module")
def street() -> np.ndarray:
    return scene(7, W, H)


@pytest.fixture(scope="module")
def street_baseline(street: np.ndarray) -> tuple[Baseline, Frame]:
    return settled(street)


def judge(frame: Frame, street_baseline: tuple[Baseline, Frame], **kw: object) -> Diagnosis:
    baseline, reference = street_baseline
    return diagnose(frame, reference=reference, baseline=baseline, **kw)  # type: ignore[arg-type]


# --- pictures that show nothing ----------------------------------------------------------


def test_black_picture_is_black_only() -> None:
    found = diagnose(shot(np.full((H, W, 3), 3, np.uint8), 1.0, noise=1.0))
    assert found.faults == ("black",)
    assert not is_healthy_for_learning(found)


@pytest.mark.parametrize("colour", [(160, 40, 10), (128, 128, 128), (0, 0, 0)])
def test_vendor_no_signal_screen(colour: tuple[int, int, int]) -> None:
    screen = np.empty((H, W, 3), np.uint8)
    screen[:] = colour
    cv2.putText(
        screen,
        "NO VIDEO",
        (W // 2 - 150, H // 2),
        cv2.FONT_HERSHEY_SIMPLEX,
        2.0,
        (255, 255, 255),
        3,
    )
    assert diagnose(shot(screen, 1.0, noise=0.0)).faults == ("no_signal",)


def test_plain_blue_screen_is_no_signal() -> None:
    blue = np.empty((H, W, 3), np.uint8)
    blue[:] = (200, 30, 0)
    assert diagnose(decode_jpeg(jpeg(blue))).faults == ("no_signal",)


# --- exposure, noise, frozen -------------------------------------------------------------


def test_too_dark_and_too_bright(street: np.ndarray) -> None:
    dark = shot(apply_fault(street, "too_dark", seed=1, strength=0.8), 1.0)
    bright = shot(apply_fault(street, "too_bright", seed=1, strength=0.8), 1.0)
    assert diagnose(dark).faults == ("too_dark",)
    assert diagnose(bright).faults == ("too_bright",)


def test_darkness_is_not_a_fault_in_the_night_window(street: np.ndarray) -> None:
    dark = shot(apply_fault(street, "too_dark", seed=1, strength=0.8), 1.0)
    found = diagnose(dark, night_window=True)
    assert found.night
    assert "too_dark" not in found.faults


def test_snow_noise(street: np.ndarray, street_baseline: tuple[Baseline, Frame]) -> None:
    snowy = shot(apply_fault(street, "noise", seed=2, strength=0.6), 1.0)
    assert diagnose(snowy).faults == ("noise",)
    assert judge(snowy, street_baseline).faults == ("noise",)


def test_frozen_needs_a_previous_frame_and_ignores_the_clock(street: np.ndarray) -> None:
    picture = live(street, 5.0, seed=3)  # one sensor frame, encoded twice with a new clock
    first = decode_jpeg(jpeg(live(picture, 0.0, seed=0, osd="08:00:01", noise_sigma=0.0)))
    again = decode_jpeg(jpeg(live(picture, 0.0, seed=0, osd="08:00:09", noise_sigma=0.0)))
    assert diagnose(again, previous=first).faults == ("frozen",)
    assert diagnose(again).faults == ()
    assert diagnose(shot(street, 6.0), previous=shot(street, 7.0)).faults == ()


# --- blur, occlusion, colour, scene: against the camera's own baseline -------------------


def test_blur_and_occlusion_against_the_baseline(
    street: np.ndarray, street_baseline: tuple[Baseline, Frame]
) -> None:
    blurred = shot(apply_fault(street, "blur", seed=4, strength=0.6), 9.0)
    covered = shot(apply_fault(street, "occluded", seed=5, strength=0.7), 10.0)
    healthy = shot(street, 11.0)
    assert judge(blurred, street_baseline).faults == ("blur",)
    assert judge(covered, street_baseline).faults == ("occluded",)
    assert judge(healthy, street_baseline, previous=shot(street, 12.0)).faults == ()


@pytest.mark.parametrize(("share", "light"), [(0.4, 0.35), (0.6, 0.45)])
def test_a_shadow_is_not_an_occluder(
    street: np.ndarray, street_baseline: tuple[Baseline, Frame], share: float, light: float
) -> None:
    shaded = street.astype(np.float32)
    shaded[:, : int(W * share)] *= light  # a building's shadow over part of the street
    found = judge(shot(np.clip(shaded, 0, 255).astype(np.uint8), 9.0), street_baseline)
    assert found.faults == ()


def test_strong_defocus_without_a_baseline(street: np.ndarray) -> None:
    defocused = shot(cv2.GaussianBlur(street, (0, 0), 6.0), 1.0)
    assert "blur" in diagnose(defocused).faults


def test_colour_cast_with_and_without_baseline(
    street: np.ndarray, street_baseline: tuple[Baseline, Frame]
) -> None:
    cast = shot(apply_fault(street, "color_cast", seed=6, strength=0.8), 1.0)
    assert diagnose(cast).faults == ("color_cast",)
    assert judge(cast, street_baseline).faults == ("color_cast",)


def test_a_yellow_wall_is_not_a_cast_once_learned() -> None:
    wall = scene(12, W, H)  # style "wall"
    yellow = np.clip(wall * np.array([0.55, 0.95, 1.05]), 0, 255).astype(np.uint8)
    baseline, reference = settled(yellow)
    found = diagnose(shot(yellow, 9.0), baseline=baseline, reference=reference)
    assert found.faults == ()


def test_scene_changed(street: np.ndarray, street_baseline: tuple[Baseline, Frame]) -> None:
    elsewhere = shot(scene(8, W, H), 1.0)
    found = judge(elsewhere, street_baseline)
    assert found.faults == ("scene_changed",)  # relative rules are not applied to another view
    h, w = street.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 1.5, 1.02)
    swayed = cv2.warpAffine(street, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
    assert judge(shot(swayed, 2.0), street_baseline).faults == ()


# --- night ---------------------------------------------------------------------------------


def test_ir_night_picture_is_grey_and_not_a_cast(
    street: np.ndarray, street_baseline: tuple[Baseline, Frame]
) -> None:
    ir = shot(night_ir(street, seed=1), 1.0)
    alone = diagnose(ir)  # even when the clock says day
    assert alone.metrics.ir_grey
    assert alone.night
    assert alone.faults == ()
    assert judge(ir, street_baseline).faults == ()
    assert judge(ir, street_baseline, night_window=True).faults == ()


def test_night_pictures_learn_their_own_profile(street: np.ndarray) -> None:
    baseline, _ = settled(street)
    found = diagnose(shot(night_ir(street, seed=2), 1.0), baseline=baseline)
    assert is_healthy_for_learning(found)
    baseline = learn(baseline, found.metrics)
    assert baseline.night is not None
    assert baseline.night.samples == 1
    assert baseline.day is not None
    assert baseline.day.samples == 2


# --- cameras that are always a bit odd -----------------------------------------------------


def test_always_soft_camera_is_judged_against_itself(street: np.ndarray) -> None:
    soft = cv2.GaussianBlur(street, (0, 0), 1.6)  # a cheap lens, always
    first = diagnose(shot(soft, 1.0))
    assert "blur" not in first.faults  # the absolute floor is for real defocus only
    baseline, reference = settled(soft)
    later = diagnose(shot(soft, 9.0), baseline=baseline, reference=reference)
    assert later.faults == ()
    worse = shot(cv2.GaussianBlur(soft, (0, 0), 4.0), 10.0)
    assert "blur" in diagnose(worse, baseline=baseline, reference=reference).faults


def _wall(colour: tuple[int, int, int], door: tuple[int, int]) -> np.ndarray:
    """A plain painted wall with a door, lit a little unevenly."""
    wall = np.full((H, W, 3), colour, np.uint8)
    cv2.rectangle(wall, (door[0], 200), (door[1], H), (40, 40, 50), -1)
    ramp = np.linspace(0.97, 1.03, W, dtype=np.float32)[None, :, None]
    lit: np.ndarray = np.clip(wall * ramp, 0, 255).astype(np.uint8)
    return lit


def test_white_wall_camera_is_not_a_permanent_fault() -> None:
    wall = _wall((232, 236, 238), (600, 660))  # white and a bit over-exposed
    first = diagnose(shot(wall, 1.0))
    assert first.faults == ("too_bright",)
    assert is_healthy_for_learning(first)  # a young baseline learns what is normal here
    baseline, reference = settled(wall)
    later = diagnose(
        shot(wall, 9.0), previous=shot(wall, 8.0), baseline=baseline, reference=reference
    )
    assert later.faults == ()
    dark = apply_fault(wall, "too_dark", seed=1)
    assert diagnose(shot(dark, 10.0), baseline=baseline).faults == ("too_dark",)


@pytest.mark.parametrize("colour", [(150, 150, 150), (120, 140, 160), (170, 110, 60)])
def test_a_plain_wall_with_a_door_is_not_a_no_signal_screen(colour: tuple[int, int, int]) -> None:
    found = diagnose(shot(_wall(colour, (420, 540)), 1.0))
    assert "no_signal" not in found.faults
    assert is_healthy_for_learning(found)  # a coloured wall may look cast until learned


def test_faults_follow_fault_order(street: np.ndarray) -> None:
    picture = apply_fault(apply_fault(street, "noise", seed=1), "too_bright", seed=1)
    found = diagnose(shot(picture, 1.0))
    assert list(found.faults) == sorted(found.faults, key=FAULT_ORDER.index)
    assert len(found.notes) == len(found.faults)
    json.dumps(found.to_json())


# --- baseline JSON -----------------------------------------------------------------------


def test_baseline_json_round_trip(street_baseline: tuple[Baseline, Frame]) -> None:
    baseline, _ = street_baseline
    data = json.loads(json.dumps(baseline.to_json()))
    again = Baseline.from_json(data)
    assert again.day is not None
    assert baseline.day is not None
    assert again.day.samples == baseline.day.samples
    assert again.day.cells_texture == pytest.approx(baseline.day.cells_texture, abs=1e-3)
    assert again.night is None
    assert Baseline.from_json(Baseline().to_json()) == Baseline()


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        [],
        "baseline",
        {"schema": "other/1", "day": None, "night": None},
        {"schema": "gridbridge.vqd-baseline/1", "day": None},
        {"schema": "gridbridge.vqd-baseline/1", "day": None, "night": None, "x": 1},
        {"schema": "gridbridge.vqd-baseline/1", "day": {"samples": 1}, "night": None},
        {"schema": "gridbridge.vqd-baseline/1", "day": [], "night": None},
    ],
)
def test_baseline_from_json_refuses_garbage(garbage: object) -> None:
    with pytest.raises(ValueError, match="baseline"):
        Baseline.from_json(garbage)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("samples", 0),
        ("samples", True),
        ("samples", 1.5),
        ("brightness", "bright"),
        ("brightness", float("nan")),
        ("noise", 1e300),
        ("noise", False),
        ("cells_texture", [1.0] * 3),
        ("cells_sharpness", "x"),
        ("cells_texture", None),
    ],
)
def test_baseline_from_json_checks_every_value(
    street_baseline: tuple[Baseline, Frame], key: str, value: object
) -> None:
    data = street_baseline[0].to_json()
    data["day"][key] = value
    with pytest.raises(ValueError, match="baseline"):
        Baseline.from_json(data)


# --- decoding ----------------------------------------------------------------------------


def test_decode_jpeg_scales_down_while_decoding() -> None:
    data = jpeg(scene(3, 1920, 1080))
    assert jpeg_size(data) == (1920, 1080)
    frame = decode_jpeg(data)
    assert (frame.width, frame.height) == (640, 360)
    assert (frame.source_width, frame.source_height) == (1920, 1080)
    progressive = jpeg(scene(3, 1280, 720), IMWRITE_JPEG_PROGRESSIVE=1)
    assert jpeg_size(progressive) == (1280, 720)
    assert decode_jpeg(progressive).width == 640


def test_small_pictures_are_not_upscaled() -> None:
    frame = decode_jpeg(jpeg(scene(3, 352, 288)))
    assert (frame.width, frame.height) == (352, 288)


def test_decode_jpeg_refuses_oversized_pictures_before_decoding() -> None:
    data = jpeg(scene(3, 640, 360))
    with pytest.raises(ValueError, match="over the limit"):
        decode_jpeg(data, max_pixels=640 * 360 - 1)
    # A header announcing 60000 x 60000 pixels is refused from the header alone.
    sof = data.index(b"\xff\xc0")
    huge = data[: sof + 5] + (60000).to_bytes(2, "big") * 2 + data[sof + 9 :]
    with pytest.raises(ValueError, match="over the limit"):
        decode_jpeg(huge)


@pytest.mark.parametrize(
    "garbage",
    [b"", b"not a jpeg", b"\xff\xd8\xff\xe0\x00", b"\xff\xd8" + b"\x00" * 100, b"\x89PNG\r\n"],
)
def test_decode_jpeg_refuses_garbage(garbage: bytes) -> None:
    with pytest.raises(ValueError, match="JPEG"):
        decode_jpeg(garbage)


def test_decode_jpeg_refuses_a_truncated_picture() -> None:
    data = jpeg(scene(3, 640, 360))
    with pytest.raises(ValueError, match="truncated"):
        decode_jpeg(data[: len(data) * 2 // 3])  # libjpeg would fill the rest with grey
    decode_jpeg(data + b"\x00" * 16)  # padding after the end marker is fine


def test_prepare_takes_decoded_grabs() -> None:
    grey = prepare(np.full((720, 1280), 128, np.uint8))
    assert (grey.width, grey.height) == (640, 360)
    assert grey.bgr.shape == (360, 640, 3)
    with pytest.raises(ValueError, match="uint8"):
        prepare(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="3-channel"):
        prepare(np.zeros((10, 10, 4), np.uint8))


# --- config --------------------------------------------------------------------------------


def test_settings_mirror_the_rules() -> None:
    names = {f.name for f in dataclasses.fields(VqdRules)}
    assert set(VqdSettings.model_fields) == names
    assert VqdSettings().to_rules() == VqdRules()
    for name, field in VqdSettings.model_fields.items():
        assert field.description, name
    custom = VqdSettings(too_dark_mean=25, blur_ratio=0.4)
    assert custom.to_rules().too_dark_mean == 25
    with pytest.raises(ValidationError):
        VqdSettings(unknown_key=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        VqdSettings(too_dark_mean=200, too_bright_mean=150)
    with pytest.raises(ValidationError):
        VqdSettings(frozen_max_changed=2.0)


# --- the simulator's pictures ------------------------------------------------------------


def test_scenes_are_deterministic_and_varied() -> None:
    assert np.array_equal(scene(5, 320, 180), scene(5, 320, 180))
    means = [float(scene(seed, 320, 180).mean()) for seed in range(10)]
    assert len({round(m) for m in means}) >= 6
    a, b = scene(1, 320, 180), scene(2, 320, 180)
    assert np.abs(a.astype(int) - b).mean() > 20


def test_live_pictures_differ_and_faults_are_checked() -> None:
    base = scene(1, 320, 180)
    assert not np.array_equal(live(base, 1.0, seed=1), live(base, 2.0, seed=1))
    assert np.array_equal(apply_fault(base, "frozen", seed=1), base)
    for kind in PICTURE_KINDS:
        assert apply_fault(base, kind, seed=1).shape == base.shape
    with pytest.raises(ValueError, match="unknown"):
        apply_fault(base, "smudge", seed=1)
    with pytest.raises(ValueError, match="strength"):
        apply_fault(base, "blur", seed=1, strength=0.0)
