"""``gridbridge check CAMERA_ID``: every check layer once, now, and the verdict."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
from datetime import UTC, datetime
from functools import partial
from typing import Any

from adapters.errors import ProbeError
from bridge.app import snapshot_dir
from bridge.bootstrap import build_store
from bridge.checker import CheckTarget
from bridge.cli import output
from bridge.cli.commands import UserError
from bridge.frame_analysis import ThumbRules, analyse
from bridge.frame_sources import FrameSources, NoPicture
from bridge.model import CameraState
from bridge.monitor import check_target
from bridge.observation import LayerResult, Observation, OnboardResult
from bridge.picture_state import night_window
from bridge.probes import Probes, real_probes
from bridge.secretbox import SecretError
from bridge.settings import Settings
from bridge.snapshots import SnapshotStore
from bridge.store import Store, StoreError
from bridge.url_credentials import url_path
from health.verdict import FAULT_LABELS_ZH, CameraHealth, VerdictRules, judge, with_picture

log = logging.getLogger(__name__)

LAYERS = ("rtsp_tcp", "onvif_tcp", "rtsp", "onvif_time", "onvif_auth")


def _layer(layer: LayerResult | None) -> dict[str, Any] | None:
    if layer is None:
        return None
    return {
        "ok": layer.ok,
        "latency_ms": None if layer.latency_ms is None else round(layer.latency_ms, 2),
        "error": layer.error,
        "status": layer.status,
        "detail": layer.detail,
    }


def check_json(name: str, obs: Observation, health: CameraHealth) -> dict[str, Any]:
    """The `check --format json` object (DESIGN §11): id, state, faults, layers."""
    layers: dict[str, Any] = {key: _layer(getattr(obs, key)) for key in LAYERS}
    layers["sdp"] = None if obs.sdp is None else dataclasses.asdict(obs.sdp)
    layers["clock_offset_s"] = None if obs.clock_offset_s is None else round(obs.clock_offset_s, 3)
    layers["device"] = None if obs.device is None else dataclasses.asdict(obs.device)
    return {
        "id": obs.camera_id,
        "name": name,
        "checked_at": obs.at.isoformat(),
        "state": health.state.value,
        "faults": list(health.faults),
        "summary": health.summary,
        "layers": layers,
    }


async def check_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        async with build_store(settings) as store:
            record = await store.get_camera(args.camera_id)
            if record is None:
                raise UserError(f"no camera {args.camera_id} in the inventory")
            target = check_target(record, settings)
            if target is None:
                raise UserError(f"camera {record.id} has no address (IP地址) in the inventory")
            async with real_probes(settings) as probes:
                onboarding = await _onboarding(store, probes, target)
                if onboarding is not None:
                    stream = onboarding.stream_uri
                    target = check_target(
                        record,
                        settings,
                        expected_serial=onboarding.device.serial or None,
                        stream_path=url_path(stream) if stream else None,
                    )
                    assert target is not None
                obs = await probes.checker.check(target, with_device=True, with_tcp=True)
            health = judge(obs, VerdictRules(clock_drift_s=settings.probe.clock_drift_s))
            picture = None
            look = settings.frames.enabled and not getattr(args, "no_picture", False)
            if look and health.state is not CameraState.OFFLINE:
                snapshot_uri = onboarding.snapshot_uri if onboarding else None
                picture = await _picture(store, settings, target, snapshot_uri)
    except (StoreError, SecretError) as exc:
        raise UserError(str(exc), 1) from None
    if picture is not None and picture["ok"]:
        health = with_picture(health, tuple(picture["faults"]))
    item = check_json(record.name, obs, health)
    item["layers"]["picture"] = picture
    item["onboarded"] = onboarding is not None
    if args.format == "json":
        print(output.dumps(item))
        return 0
    _print_table(item, record.host or "")
    return 0


async def _onboarding(store: Store, probes: Probes, target: CheckTarget) -> OnboardResult | None:
    """The camera's cached ONVIF onboarding; made (and cached) now when there is none."""
    cached = await store.get_onboarding(target.camera_id)
    if cached is not None:
        return cached[0]
    try:
        result = await probes.onboard(target)
    except ProbeError as exc:
        log.info("camera %s: ONVIF onboarding failed: %s", target.camera_id, exc)
        return None
    await store.save_onboarding(target.camera_id, result, datetime.now(UTC))
    return result


async def _picture(
    store: Store, settings: Settings, target: CheckTarget, snapshot_uri: str | None
) -> dict[str, Any]:
    """One look at the camera's picture, judged against what the daemon learnt of it (its
    baseline and reference picture); nothing is stored.  One look: the daemon would want a
    second before reporting a fault it had not seen."""
    s = settings.frames
    record = await store.get_frame(target.camera_id)
    snapshots = SnapshotStore(snapshot_dir(settings))
    reference = await asyncio.to_thread(snapshots.reference, target.camera_id)
    at = datetime.now(UTC)
    try:
        async with FrameSources(s) as sources:
            pictures = await sources.look(target, snapshot_uri)
        analysis = await asyncio.to_thread(
            partial(
                analyse,
                pictures,
                reference_jpeg=reference,
                baseline_json=record.baseline if record else None,
                night_window=night_window(at, s.night_start, s.night_end, s.utc_offset_h),
                rules=s.vqd.to_rules(),
                thumbs=ThumbRules(s.thumbnail_width, s.thumbnail_max_bytes, s.max_pixels),
            )
        )
    except NoPicture as exc:
        return {"ok": False, "source": exc.source, "faults": [], "error": str(exc)}
    except ValueError as exc:
        return {"ok": False, "source": None, "faults": [], "error": f"bad picture: {exc}"}
    d = analysis.diagnosis
    return {
        "ok": True,
        "source": pictures.source,
        "faults": list(d.faults),
        "night": d.night,
        "notes": list(d.notes),
        "baseline": record is not None and record.baseline is not None,
        "reference": reference is not None,
        "metrics": d.metrics.to_json(),
        "error": "",
    }


def _print_table(item: dict[str, Any], host: str) -> None:
    out = sys.stdout
    out.write(f"{item['id']}  {item['name']}  ({host})\n")
    faults = ", ".join(f"{f} {FAULT_LABELS_ZH.get(f, '')}".strip() for f in item["faults"])
    out.write(f"state: {item['state']}" + (f"   faults: {faults}" if faults else "") + "\n")
    rows = []
    for key in LAYERS:
        layer = item["layers"][key]
        if layer is None:
            rows.append([key, "-", "", "not run"])
            continue
        result = "ok" if layer["ok"] else layer["error"]
        latency = "" if layer["latency_ms"] is None else f"{layer['latency_ms']:.1f} ms"
        rows.append([key, result, latency, layer["detail"]])
    out.write(output.table(["layer", "result", "latency", "detail"], rows) + "\n")
    layers = item["layers"]
    if layers["sdp"]:
        sdp = layers["sdp"]
        size = f" {sdp['width']}x{sdp['height']}" if sdp["width"] else ""
        out.write(
            f"video: {sdp['codec'] or '?'}{size}"
            + (" (no video track)" if not sdp["has_video"] else "")
            + "\n"
        )
    if layers["clock_offset_s"] is not None:
        out.write(f"clock offset: {layers['clock_offset_s']:+.1f} s\n")
    if layers["device"]:
        d = layers["device"]
        out.write(
            f"device: {d['manufacturer']} {d['model']} fw {d['firmware']} serial {d['serial']}\n"
        )
    picture = layers.get("picture")
    if picture is None:
        out.write("picture: not looked at\n")
    elif not picture["ok"]:
        out.write(f"picture: none ({picture['error']})\n")
    else:
        m = picture["metrics"]
        found = ", ".join(f"{f} {FAULT_LABELS_ZH.get(f, '')}".strip() for f in picture["faults"])
        out.write(
            f"picture: {picture['source']} {m['source_width']}x{m['source_height']}, "
            f"{found or 'ok 正常'}{' (night)' if picture['night'] else ''}\n"
        )
        for note in picture["notes"]:
            out.write(f"  {note}\n")
