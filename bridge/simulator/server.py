"""The simulator: every camera of an inventory served at its own loopback address and ports.

One process, one ``asyncio.Server`` per listening socket (two per camera: RTSP and HTTP/ONVIF),
no task per connection.  A camera that is ``down`` (or in the down phase of ``flapping``) has
its listening sockets closed, so connecting to it is refused like a switched-off device;
when it comes back its sockets are bound again.  Faults are validated all-or-nothing and take
effect at once for new requests; re-binding after a fault clears happens within a loop turn
(``settle()`` waits for it).  Pictures (snapshot and RTSP stream) come from one
``SnapshotCache``; RTSP sessions and their streams from one ``MediaSessions``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import secrets
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from types import TracebackType
from typing import Any

from bridge.simulator.auth import Authenticator
from bridge.simulator.faults import Fault, parse_faults
from bridge.simulator.media import MediaSessions, StreamLimits, StreamState
from bridge.simulator.model import SimCamera, SimulatorError, check_unique_endpoints
from bridge.simulator.onvif import http_reply
from bridge.simulator.rtp_jpeg import MAX_DIMENSION
from bridge.simulator.rtsp import rtsp_reply
from bridge.simulator.snapshot import SnapshotCache
from bridge.simulator.wire import Admission, Pending, Reply, Request, RequestProtocol

__all__ = ["FD_RESERVE", "Simulator", "fds_needed", "raise_fd_limit"]

log = logging.getLogger(__name__)

FD_RESERVE = 1024  # accepted connections, the control API, logs, the interpreter itself
_DOWN_KINDS = frozenset({"down"})


def fds_needed(cameras: int) -> int:
    """File descriptors to serve ``cameras`` cameras: two listeners each, plus a reserve."""
    return 2 * cameras + FD_RESERVE


def raise_fd_limit(needed: int) -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return it.

    Raises ``SimulatorError`` saying how many descriptors are needed when the hard limit is
    lower than ``needed``.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, needed)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft < needed:
        raise SimulatorError(
            f"serving these cameras needs about {needed} open files (2 listening sockets per "
            f"camera + {FD_RESERVE} spare) but this process may open at most {soft} "
            f"(RLIMIT_NOFILE hard limit); raise it (ulimit -n {needed}, or LimitNOFILE={needed} "
            "in a systemd unit) or serve fewer cameras per process"
        )
    return soft


class _Port:
    """The ``Dispatch`` of one listening port: which camera, which protocol."""

    __slots__ = ("camera", "rtsp", "sim")

    def __init__(self, sim: Simulator, camera: SimCamera, rtsp: bool) -> None:
        self.sim = sim
        self.camera = camera
        self.rtsp = rtsp

    def admit(self, conn: RequestProtocol) -> Admission:
        return self.sim._admit(self.camera.id, conn)

    def closed(self, conn: RequestProtocol) -> None:
        self.sim._connections.discard(conn)
        if self.rtsp:
            self.sim._media.closed(conn)

    def handle(self, conn: RequestProtocol, request: Request) -> Reply | Pending[Any] | Admission:
        return self.sim._handle(self, conn, request)

    def version(self) -> str:
        return "RTSP/1.0" if self.rtsp else "HTTP/1.1"


class Simulator:
    """Serves ``cameras`` on loopback, each with RTSP, ONVIF and a snapshot URL, with faults.

    ``faults`` (camera ID → kind or ``{"kind": …}``) is validated and applied by ``start()``.
    ``clock`` gives wall time in seconds (device clocks, nonces, picture stamps).
    ``snapshot_size`` is the size of every picture, snapshot and stream (multiples of 8, at
    most 2040: RTP/JPEG's limits); ``stream`` the RTSP frame rate and limits;
    ``scene_pool`` N makes cameras share N street scenes (benchmarks; see ``SnapshotCache``).
    Use as ``async with Simulator(cameras) as sim:`` or ``start()``/``close()``.
    """

    def __init__(
        self,
        cameras: Sequence[SimCamera],
        *,
        faults: Mapping[str, object] | None = None,
        snapshot_size: tuple[int, int] = (1280, 720),
        stream: StreamLimits | None = None,
        scene_pool: int | None = None,
        backlog: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        width, height = snapshot_size
        if not all(16 <= n <= MAX_DIMENSION and n % 8 == 0 for n in snapshot_size):
            raise SimulatorError(
                f"picture size {width}x{height}: width and height must be multiples of 8 "
                f"from 16 to {MAX_DIMENSION} (RTP/JPEG carries them as a number of 8-pixel blocks)"
            )
        self._cameras = tuple(cameras)
        self._by_id = {c.id: c for c in self._cameras}
        self._initial_faults = dict(faults or {})
        self._backlog = backlog
        self._clock = clock
        self._auth = Authenticator(secrets.token_bytes(32), clock)
        self._snapshots = SnapshotCache(width, height, scene_pool=scene_pool)
        self._media = MediaSessions(
            self._picture, self._stream_state, stream or StreamLimits(), width, height
        )
        self._faults: dict[str, Fault] = {}
        self._fault_since: dict[str, float] = {}
        self._servers: dict[str, tuple[asyncio.Server, ...]] = {}
        self._ports: dict[str, tuple[_Port, _Port]] = {}
        self._connections: set[RequestProtocol] = set()
        self._flap_down: dict[str, bool] = {}
        self._flap_timers: dict[str, asyncio.TimerHandle] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._settled = asyncio.Event()
        self._reconciler: asyncio.Task[None] | None = None
        self.requests = {"rtsp": 0, "http": 0}

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Bind every camera's ports and apply the initial faults.

        Raises ``SimulatorError`` (nothing left bound) when cameras clash, the fd limit is too
        low, or an address cannot be bound; ``FaultError`` when the initial faults are invalid.
        """
        if self._reconciler is not None:
            raise SimulatorError("the simulator is already started")
        check_unique_endpoints(self._cameras)
        raise_fd_limit(fds_needed(len(self._cameras)))
        faults = parse_faults(self._initial_faults, self._by_id)
        faults.update(self._faults)  # set_faults() before start() wins over the constructor's
        self._faults = faults
        now = self._clock()
        self._fault_since = {camera_id: now for camera_id in faults}
        self._settled.set()
        self._ports = {c.id: (_Port(self, c, True), _Port(self, c, False)) for c in self._cameras}
        try:
            for camera in self._cameras:
                fault = self._faults.get(camera.id)
                if fault is not None and fault.kind == "flapping":
                    self._start_flapping(camera.id, fault.param("period_s"))
                elif fault is None or fault.kind not in _DOWN_KINDS:
                    await self._open(camera.id)
        except BaseException:
            await self.close()
            raise
        self._reconciler = asyncio.create_task(self._reconcile(), name="simulator-reconcile")

    async def close(self) -> None:
        """Stop serving: close every listening socket and every open connection."""
        if self._reconciler is not None:
            self._reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconciler
            self._reconciler = None
        for timer in self._flap_timers.values():
            timer.cancel()
        self._flap_timers.clear()
        for camera_id in list(self._servers):
            self._close_listeners(camera_id)
        await self._media.close()
        for conn in list(self._connections):
            conn.abort()
        self._connections.clear()
        await self._snapshots.close()

    # --- faults ---------------------------------------------------------------------------

    @property
    def cameras(self) -> tuple[SimCamera, ...]:
        """The cameras served, in inventory order."""
        return self._cameras

    def faults(self) -> dict[str, Fault]:
        """Camera ID → current fault (a copy)."""
        return dict(self._faults)

    def set_faults(self, mapping: Mapping[str, object]) -> dict[str, Fault]:
        """Merge faults (camera ID → kind or ``{"kind": …}``) into the current ones.

        Validates everything first (``FaultError`` lists every problem; nothing is applied).
        Returns the faults that were set.  Refusal (``down``, ``flapping``) starts at once.
        """
        parsed = parse_faults(mapping, self._by_id)
        for camera_id, fault in parsed.items():
            self._apply(camera_id, fault)
        return parsed

    def clear_fault(self, camera_id: str) -> bool:
        """Make one camera healthy again; False if it had no fault.  ``KeyError`` if unknown."""
        if camera_id not in self._by_id:
            raise KeyError(camera_id)
        had = camera_id in self._faults
        self._apply(camera_id, None)
        return had

    def clear_faults(self) -> int:
        """Make every camera healthy again; returns how many had a fault."""
        ids = list(self._faults)
        for camera_id in ids:
            self._apply(camera_id, None)
        return len(ids)

    def is_listening(self, camera_id: str) -> bool:
        """True if the camera's ports are bound right now."""
        return camera_id in self._servers

    async def settle(self) -> None:
        """Wait until every camera that should listen is bound again."""
        await self._settled.wait()

    def _apply(self, camera_id: str, fault: Fault | None) -> None:
        timer = self._flap_timers.pop(camera_id, None)
        if timer is not None:
            timer.cancel()
        self._flap_down.pop(camera_id, None)
        if fault is None:
            self._faults.pop(camera_id, None)
            self._fault_since.pop(camera_id, None)
        else:
            self._faults[camera_id] = fault
            self._fault_since[camera_id] = self._clock()
        if self._reconciler is None and not self._servers:
            return  # not started: start() applies the faults
        if fault is not None and fault.kind in _DOWN_KINDS:
            self._close_listeners(camera_id)
        elif fault is not None and fault.kind == "flapping":
            self._start_flapping(camera_id, fault.param("period_s"))
        else:
            self._mark(camera_id)

    def _start_flapping(self, camera_id: str, period_s: float) -> None:
        loop = asyncio.get_running_loop()
        self._flap_down[camera_id] = True
        self._close_listeners(camera_id)
        start = loop.time()
        self._flap_timers[camera_id] = loop.call_at(
            start + period_s, self._flip, camera_id, start, period_s, 1
        )

    def _flip(self, camera_id: str, start: float, period_s: float, n: int) -> None:
        down = n % 2 == 0
        self._flap_down[camera_id] = down
        if down:
            self._close_listeners(camera_id)
        else:
            self._mark(camera_id)
        loop = asyncio.get_running_loop()
        self._flap_timers[camera_id] = loop.call_at(
            start + (n + 1) * period_s, self._flip, camera_id, start, period_s, n + 1
        )

    def _wants_listening(self, camera_id: str) -> bool:
        fault = self._faults.get(camera_id)
        if fault is None:
            return True
        if fault.kind in _DOWN_KINDS:
            return False
        return not self._flap_down.get(camera_id, False)

    # --- listening sockets ----------------------------------------------------------------

    def _mark(self, camera_id: str) -> None:
        self._dirty.add(camera_id)
        self._settled.clear()
        self._wake.set()

    async def _reconcile(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._dirty:
                camera_id = self._dirty.pop()
                listening = camera_id in self._servers
                wanted = self._wants_listening(camera_id)
                if wanted and not listening:
                    try:
                        await self._open(camera_id)
                    except SimulatorError as exc:
                        log.warning("camera %s stays down: %s", camera_id, exc)
                elif listening and not wanted:
                    self._close_listeners(camera_id)
            if not self._dirty:
                self._settled.set()

    def _bind(self, host: str, port: int) -> socket.socket:
        # proto given explicitly: asyncio sets TCP_NODELAY on accepted sockets only when
        # proto is IPPROTO_TCP; with 0, a second pipelined reply waits ~40 ms for an ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(self._backlog)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise SimulatorError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        return sock

    async def _open(self, camera_id: str) -> None:
        camera = self._by_id[camera_id]
        loop = asyncio.get_running_loop()
        servers: list[asyncio.Server] = []
        try:
            for port, number in zip(
                self._ports[camera_id], (camera.rtsp_port, camera.onvif_port), strict=True
            ):
                sock = self._bind(camera.host, number)
                try:
                    server = await loop.create_server(partial(RequestProtocol, port), sock=sock)
                except BaseException:
                    sock.close()
                    raise
                servers.append(server)
        except BaseException:
            for server in servers:
                server.close()
            raise
        if self._wants_listening(camera_id) and camera_id not in self._servers:
            self._servers[camera_id] = tuple(servers)
        else:  # a fault arrived while binding
            for server in servers:
                server.close()

    def _close_listeners(self, camera_id: str) -> None:
        for server in self._servers.pop(camera_id, ()):
            server.close()

    # --- requests -------------------------------------------------------------------------

    def _admit(self, camera_id: str, conn: RequestProtocol) -> Admission:
        self._connections.add(conn)
        if not self._wants_listening(camera_id):
            return Admission.DROP
        fault = self._faults.get(camera_id)
        if fault is not None and fault.kind == "blackhole":
            return Admission.SILENT
        return Admission.SERVE

    def _picture(
        self, camera: SimCamera, now: float | None = None
    ) -> bytes | asyncio.Future[bytes]:
        """The camera's picture at ``now`` of its clock (default: its clock now)."""
        fault = self._faults.get(camera.id)
        if now is None:
            now = self._clock()
            if fault is not None and fault.kind == "clock_drift":
                now += fault.param("offset_s")
        return self._snapshots.jpeg(camera, fault, self._fault_since.get(camera.id, 0.0), now)

    def _stream_state(self, camera_id: str) -> StreamState:
        if not self._wants_listening(camera_id):
            return StreamState.DROP
        fault = self._faults.get(camera_id)
        return (
            StreamState.HANG
            if fault is not None and fault.kind == "blackhole"
            else StreamState.SERVE
        )

    def _handle(
        self, port: _Port, conn: RequestProtocol, request: Request
    ) -> Reply | Pending[Any] | Admission:
        camera = port.camera
        if not self._wants_listening(camera.id):
            return Admission.DROP
        fault = self._faults.get(camera.id)
        if fault is not None and fault.kind == "blackhole":
            return Admission.SILENT
        now = self._clock()
        if port.rtsp:
            self.requests["rtsp"] += 1
            reply: Reply | Pending[Any] = rtsp_reply(
                camera, fault, self._auth, request, now, conn, self._media
            )
        else:
            self.requests["http"] += 1
            stream = (self._media.width, self._media.height, self._media.limits.fps)
            picture = partial(self._picture, camera)
            reply = http_reply(camera, fault, self._auth, picture, stream, request, now)
        if fault is not None and fault.kind == "slow":
            reply.delay_s = fault.param("latency_ms") / 1000.0
        return reply
