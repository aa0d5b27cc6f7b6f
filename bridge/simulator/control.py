"""The simulator's HTTP control API (aiohttp), loopback only.

``GET /faults`` lists the current faults; ``POST /faults`` merges a faults mapping (camera ID →
kind or ``{"kind": …}``; all or nothing, 400 with every problem otherwise); ``DELETE
/faults/{id}`` clears one camera; ``DELETE /faults`` clears all; ``GET /cameras`` lists the
cameras (never a password); ``GET /healthz`` says the simulator is up.  Bodies over
``MAX_BODY_BYTES`` are refused (413) and reading a body has a deadline.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Protocol

from aiohttp import web

from bridge.simulator.faults import KINDS, Fault, FaultError
from bridge.simulator.model import SimCamera, SimulatorError, check_loopback
from bridge.simulator.onvif import SNAPSHOT_PATH

__all__ = [
    "DEFAULT_CONTROL",
    "MAX_BODY_BYTES",
    "ControlServer",
    "ControlTarget",
    "build_app",
    "parse_listen",
]

DEFAULT_CONTROL = "127.0.0.1:9554"
MAX_BODY_BYTES = 1024 * 1024
BODY_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 5.0
START_TIMEOUT_S = 10.0


class ControlTarget(Protocol):
    """What the control API drives: a ``Simulator`` or a sharded one."""

    @property
    def cameras(self) -> tuple[SimCamera, ...]: ...

    def faults(self) -> dict[str, Fault]: ...

    def set_faults(self, mapping: Mapping[str, object]) -> dict[str, Fault]: ...

    def clear_fault(self, camera_id: str) -> bool: ...

    def clear_faults(self) -> int: ...

    def is_listening(self, camera_id: str) -> bool: ...


TARGET = web.AppKey("target", ControlTarget)


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` → (host, port); raises ``SimulatorError`` unless it is loopback."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise SimulatorError(f"control address {text!r} is not HOST:PORT")
    check_loopback(host)
    return host, int(port_text)


def _error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


def _faults_json(target: ControlTarget) -> dict[str, object]:
    return {camera_id: fault.to_json() for camera_id, fault in sorted(target.faults().items())}


async def get_faults(request: web.Request) -> web.Response:
    """All current faults: camera ID → ``{"kind": …, …parameters}``."""
    return web.json_response(_faults_json(request.app[TARGET]))


async def post_faults(request: web.Request) -> web.Response:
    """Merge the faults in the body; 400 with every problem if any is invalid."""
    target = request.app[TARGET]
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            raw = await request.read()
    except TimeoutError:
        raise _error(web.HTTPRequestTimeout, "request body too slow") from None
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _error(web.HTTPBadRequest, f"body is not JSON: {exc}") from None
    try:
        applied = target.set_faults(body)
    except FaultError as exc:
        raise _error(web.HTTPBadRequest, str(exc)) from None
    return web.json_response(
        {
            "applied": {cid: f.to_json() for cid, f in sorted(applied.items())},
            "faults": _faults_json(target),
        }
    )


async def delete_fault(request: web.Request) -> web.Response:
    """Clear one camera's fault; 404 for an unknown camera."""
    camera_id = request.match_info["camera_id"]
    try:
        cleared = request.app[TARGET].clear_fault(camera_id)
    except KeyError:
        raise _error(web.HTTPNotFound, f"no camera {camera_id[:40]!r}") from None
    return web.json_response({"cleared": cleared})


async def delete_faults(request: web.Request) -> web.Response:
    """Clear every fault."""
    return web.json_response({"cleared": request.app[TARGET].clear_faults()})


def camera_json(camera: SimCamera, fault: Fault | None, listening: bool) -> dict[str, object]:
    """A camera as the API lists it: addresses, identity, fault; never the password."""
    return {
        "id": camera.id,
        "name": camera.name,
        "host": camera.host,
        "rtsp_port": camera.rtsp_port,
        "onvif_port": camera.onvif_port,
        "rtsp_url": f"rtsp://{camera.host}:{camera.rtsp_port}{camera.rtsp_path}",
        "onvif_url": f"http://{camera.host}:{camera.onvif_port}/onvif/device_service",
        "snapshot_url": f"http://{camera.host}:{camera.onvif_port}{SNAPSHOT_PATH}",
        "username": camera.username,
        "auth": camera.auth.value,
        "vendor": camera.vendor,
        "model": camera.model,
        "serial": camera.serial,
        "fault": fault.to_json() if fault is not None else None,
        "listening": listening,
    }


async def get_cameras(request: web.Request) -> web.Response:
    """Every camera served, in inventory order."""
    target = request.app[TARGET]
    faults = target.faults()
    items = [camera_json(c, faults.get(c.id), target.is_listening(c.id)) for c in target.cameras]
    return web.json_response(items)


async def healthz(request: web.Request) -> web.Response:
    """``{"status": "ok", …}`` while the simulator runs."""
    target = request.app[TARGET]
    return web.json_response(
        {
            "status": "ok",
            "cameras": len(target.cameras),
            "faults": len(target.faults()),
            "kinds": list(KINDS),
        }
    )


def build_app(target: ControlTarget) -> web.Application:
    """The control API application for ``target``."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[TARGET] = target
    app.router.add_get("/faults", get_faults)
    app.router.add_post("/faults", post_faults)
    app.router.add_delete("/faults", delete_faults)
    app.router.add_delete("/faults/{camera_id}", delete_fault)
    app.router.add_get("/cameras", get_cameras)
    app.router.add_get("/healthz", healthz)
    return app


class ControlServer:
    """The control API served on a loopback ``HOST:PORT`` (port 0 picks a free one)."""

    def __init__(self, target: ControlTarget, listen: str = DEFAULT_CONTROL) -> None:
        self._target = target
        self._listen = listen
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """``http://host:port`` of the running API."""
        return f"http://{parse_listen(self._listen)[0]}:{self.port}"

    async def start(self) -> None:
        """Listen; raises ``SimulatorError`` for a bad or busy address."""
        host, port = parse_listen(self._listen)
        runner = web.AppRunner(
            build_app(self._target), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                await runner.setup()
                site = web.TCPSite(runner, host, port)
                await site.start()
        except (OSError, TimeoutError) as exc:
            async with asyncio.timeout(SHUTDOWN_TIMEOUT_S):
                await runner.cleanup()
            raise SimulatorError(f"control API cannot listen on {host}:{port}: {exc}") from None
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def close(self) -> None:
        """Stop the API (open requests get ``SHUTDOWN_TIMEOUT_S`` to finish)."""
        if self._runner is not None:
            async with asyncio.timeout(SHUTDOWN_TIMEOUT_S * 2):
                await self._runner.cleanup()
            self._runner = None
