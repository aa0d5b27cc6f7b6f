"""``gridbridge check CAMERA_ID``: every check layer once, now, and the verdict."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from adapters.errors import ProbeError
from bridge.bootstrap import build_store
from bridge.checker import CheckTarget
from bridge.cli import output
from bridge.cli.commands import UserError
from bridge.monitor import check_target
from bridge.observation import LayerResult, Observation, OnboardResult
from bridge.probes import Probes, real_probes
from bridge.secretbox import SecretError
from bridge.settings import Settings
from bridge.store import Store, StoreError
from bridge.url_credentials import url_path
from health.verdict import FAULT_LABELS_ZH, CameraHealth, VerdictRules, judge

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
    except (StoreError, SecretError) as exc:
        raise UserError(str(exc), 1) from None
    health = judge(obs, VerdictRules(clock_drift_s=settings.probe.clock_drift_s))
    item = check_json(record.name, obs, health)
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
