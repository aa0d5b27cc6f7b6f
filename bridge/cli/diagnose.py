"""``gridbridge diagnose IMAGE... [--previous IMG] [--reference IMG] [--baseline IMG...]``:
the picture metrics and faults of still images, as the frame tier would judge them — for
tuning ``frames.vqd`` thresholds and for support ("why is this camera 'blurred'?").

Each IMAGE is judged on its own with the same optional previous picture (``frozen``),
reference picture (``scene_changed``) and baseline (learnt from ``--baseline`` pictures, as
the daemon learns from a camera's healthy looks).  Thresholds come from the config file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bridge.cli import output
from bridge.cli.commands import UserError
from bridge.settings import Settings
from health.verdict import FAULT_LABELS_ZH
from health.vqd import (
    Baseline,
    Diagnosis,
    Frame,
    VqdRules,
    decode_jpeg,
    diagnose,
    is_healthy_for_learning,
    learn,
    prepare,
)

# Metrics shown in the table (all of them are in the JSON).
_TABLE_METRICS = ("brightness", "contrast", "sharpness", "noise", "cast_k", "frozen_changed")


def load_frame(path: Path, *, max_bytes: int, max_pixels: int, rules: VqdRules) -> Frame:
    """A picture file as the frame tier sees it; raises `UserError` (exit 2) naming the file.

    JPEG goes through the daemon's own decoder (reduced-scale decoding, pixel cap); other
    formats OpenCV reads (PNG, BMP…) are prepared like an RTSP grab."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise UserError(f"{path}: {size} bytes, more than frames.max_jpeg_bytes ({max_bytes})")
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        if data.startswith(b"\xff\xd8"):
            return decode_jpeg(data, max_pixels=max_pixels, analysis_width=rules.analysis_width)
        import cv2
        import numpy as np

        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError("not a picture OpenCV can read")
        height, width = image.shape[:2]
        if width * height > max_pixels:
            raise ValueError(f"{width}x{height} is more than {max_pixels} pixels")
        return prepare(np.asarray(image, np.uint8), analysis_width=rules.analysis_width)
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from None


def _entry(path: Path, diagnosis: Diagnosis) -> dict[str, Any]:
    return {
        "file": str(path),
        "faults": list(diagnosis.faults),
        "labels_zh": [FAULT_LABELS_ZH.get(f, f) for f in diagnosis.faults],
        "night": diagnosis.night,
        "learnable": is_healthy_for_learning(diagnosis),
        "notes": list(diagnosis.notes),
        "metrics": diagnosis.metrics.to_json(),
    }


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
    return str(value)


async def diagnose_command(args: argparse.Namespace, settings: Settings) -> int:
    s = settings.frames
    rules = s.vqd.to_rules()

    def load(path: Path) -> Frame:
        return load_frame(path, max_bytes=s.max_jpeg_bytes, max_pixels=s.max_pixels, rules=rules)

    previous = load(args.previous) if args.previous else None
    reference = load(args.reference) if args.reference else None
    baseline: Baseline | None = None
    for path in args.baseline or ():
        learnt = diagnose(load(path), baseline=baseline, night_window=args.night, rules=rules)
        if is_healthy_for_learning(learnt):
            baseline = learn(baseline, learnt.metrics, rules)
        else:
            print(f"gridbridge: {path}: not healthy ({', '.join(learnt.faults)}); not learnt",
                  file=sys.stderr)  # fmt: skip
    entries = []
    for path in args.images:
        result = diagnose(
            load(path),
            previous=previous,
            reference=reference,
            baseline=baseline,
            night_window=args.night,
            rules=rules,
        )
        entries.append(_entry(path, result))
    if args.format == "json":
        print(output.dumps(entries))
        return 0
    headers = ["file", "faults", "故障", "night", *_TABLE_METRICS]
    rows = [
        [
            e["file"],
            e["faults"] or ["ok"],
            e["labels_zh"] or ["正常"],
            e["night"],
            *(_number(e["metrics"].get(k)) for k in _TABLE_METRICS),
        ]
        for e in entries
    ]
    if args.format == "csv":
        sys.stdout.write(output.csv_text(headers, rows))
        return 0
    print(output.table(headers, rows))
    for e in entries:
        for note in e["notes"]:
            print(f"  {e['file']}: {note}")
    return 0


async def pictures_reset(args: argparse.Namespace, settings: Settings) -> int:
    """``gridbridge pictures reset CAMERA_ID``: forget the camera's reference picture and the
    baseline learnt from its pictures (re-aimed on purpose, refocused, or learnt while it was
    already faulty).  Safe while the daemon runs: its next healthy look learns them again."""
    from bridge.app import snapshot_dir
    from bridge.bootstrap import build_store
    from bridge.snapshots import SnapshotStore
    from bridge.store import StoreError

    try:
        async with build_store(settings) as store:
            if args.camera_id not in await store.camera_ids():
                raise UserError(f"no camera {args.camera_id} in the inventory")
            baseline = await store.forget_picture_baseline(args.camera_id)
    except StoreError as exc:
        raise UserError(str(exc), 1) from None
    reference = SnapshotStore(snapshot_dir(settings)).forget_reference(args.camera_id)
    if not (baseline or reference):
        print(f"camera {args.camera_id}: nothing learnt of its pictures yet; nothing to reset")
        return 0
    what = " and ".join(
        w for w, done in (("reference picture", reference), ("picture baseline", baseline)) if done
    )
    print(f"camera {args.camera_id}: {what} forgotten; its next healthy pictures are learnt again")
    return 0
