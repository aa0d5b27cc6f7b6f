"""Runs the ipycam virtual camera (PyPI ``ipycam`` 1.3.0) confined to loopback, for tests.

Run with the peers venv's Python (``scripts/peers-venv``), never the project's: ipycam needs
opencv-python, which clashes with the project's opencv-python-headless.  Standalone: imports
nothing of gridbridge.

ipycam binds 0.0.0.0 and joins the WS-Discovery multicast group by default (PEERS.md).  Tests
may send traffic only to loopback, so before ipycam is imported every socket ``bind`` is
forced to 127.0.0.1 (``::1`` for IPv6), joining a multicast group is refused, a connect or
send to anything but loopback raises, and ipycam's WS-Discovery server is replaced by a no-op.
go2rtc detection, native RTSP (FFmpeg) and WebRTC are switched off: only the ONVIF device and
media services run (GetStreamUri still names ``--rtsp-port``; nothing listens there).

    ipycam_launcher.py --onvif-port P --rtsp-port R [--username U] [--advertise-host H]
                       [--serial S]

The password is read from the environment variable ``IPYCAM_PASSWORD`` (never argv).  Prints
``READY <onvif-port>`` on stdout once the ONVIF service listens; stops cleanly on SIGTERM or
SIGINT.  ``--advertise-host`` is the address ipycam puts in the URLs it hands out (XAddrs,
stream and snapshot URIs): another loopback address lets a test prove that the client
rewrites them.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import signal
import socket
import sys
import threading
from typing import Any

_real_bind = socket.socket.bind
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_sendto = socket.socket.sendto
_real_setsockopt = socket.socket.setsockopt


def _is_loopback(host: Any) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return str(host) == "localhost"


def _loopback_bind(self: socket.socket, address: Any) -> None:
    if self.family == socket.AF_INET and isinstance(address, tuple):
        address = ("127.0.0.1", address[1])
    elif self.family == socket.AF_INET6 and isinstance(address, tuple):
        address = ("::1", address[1], *address[2:])
    _real_bind(self, address)


def _guard(address: Any) -> None:
    if isinstance(address, tuple) and not _is_loopback(address[0]):
        raise OSError(errno.EPERM, f"ipycam_launcher: traffic to {address[0]} refused")


def _loopback_connect(self: socket.socket, address: Any) -> None:
    _guard(address)
    _real_connect(self, address)


def _loopback_connect_ex(self: socket.socket, address: Any) -> int:
    _guard(address)
    return _real_connect_ex(self, address)


def _loopback_sendto(self: socket.socket, data: Any, *args: Any) -> int:
    _guard(args[-1])
    return _real_sendto(self, data, *args)


def _no_multicast_setsockopt(self: socket.socket, level: int, option: int, *value: Any) -> None:
    if level == socket.IPPROTO_IP and option == socket.IP_ADD_MEMBERSHIP:
        raise OSError(errno.EPERM, "ipycam_launcher: multicast refused")
    _real_setsockopt(self, level, option, *value)


socket.socket.bind = _loopback_bind  # type: ignore[method-assign]
socket.socket.connect = _loopback_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _loopback_connect_ex  # type: ignore[method-assign]
socket.socket.sendto = _loopback_sendto  # type: ignore[method-assign]
socket.socket.setsockopt = _no_multicast_setsockopt  # type: ignore[method-assign]


class _NoDiscovery:
    """Stands in for ipycam's WSDiscoveryServer: no socket, no multicast."""

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onvif-port", type=int, required=True)
    parser.add_argument("--rtsp-port", type=int, required=True)
    parser.add_argument("--username", default="")
    parser.add_argument("--advertise-host", default="127.0.0.1")
    parser.add_argument("--serial", default="GB-TEST-0001")
    args = parser.parse_args()
    if not _is_loopback(args.advertise_host):
        parser.error("--advertise-host must be a loopback address")

    import ipycam.camera
    from ipycam import CameraConfig, IPCamera

    ipycam.camera.WSDiscoveryServer = _NoDiscovery  # type: ignore[misc,assignment]
    ipycam.camera.check_go2rtc_running = lambda *a, **k: False  # type: ignore[assignment]
    ipycam.camera.check_rtsp_port_available = lambda *a, **k: False  # type: ignore[assignment]
    ipycam.camera.is_native_rtsp_available = lambda: False  # type: ignore[assignment]
    ipycam.camera.is_webrtc_available = lambda: False  # type: ignore[assignment]

    config = CameraConfig(
        name="gridbridge test camera",
        serial_number=args.serial,
        local_ip=args.advertise_host,
        onvif_port=args.onvif_port,
        rtsp_port=args.rtsp_port,
        username=args.username,
        password=os.environ.get("IPYCAM_PASSWORD", ""),
        main_width=640,
        main_height=360,
        main_fps=10,
        sub_width=320,
        sub_height=180,
        sub_fps=5,
        show_timestamp=False,
    )
    camera = IPCamera(config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if not camera.start():
        print("FAILED", flush=True)
        return 1
    try:
        print(f"READY {args.onvif_port}", flush=True)
        stop.wait()
    finally:
        camera.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
