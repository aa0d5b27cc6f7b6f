"""Measure the simulator: start-up time, memory, requests/s.

Run ``python -m bridge.simulator.measure --cameras N [--seconds S]``.

Not a test: prints figures for the closing notes and for ``bench/``.  Cameras are synthetic
(127.40.x.y, ports 28554/28080); the load is raw-socket RTSP OPTIONS+DESCRIBE (with Digest)
and ONVIF GetSystemDateAndTime posts over keep-alive connections from this same process, so
requests/s is a lower bound (the client shares the CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import resource
import tempfile
import time
from pathlib import Path

from bridge.simulator.model import AuthMode, SimCamera, load_inventory, serial_for
from bridge.simulator.server import Simulator, raise_fd_limit
from bridge.simulator.shards import ShardedSimulator, shards_needed

__all__ = ["main", "measure", "measure_sharded", "synthetic_cameras"]

_SOAP = (
    b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
    b'<s:Body><GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/>'
    b"</s:Body></s:Envelope>"
)


def synthetic_cameras(
    count: int, *, first_octet: int = 40, rtsp_port: int = 28554
) -> list[SimCamera]:
    """``count`` cameras from 127.<first_octet>.0.1 upwards; ONVIF port = ``rtsp_port`` - 474."""
    cameras = []
    for i in range(count):
        camera_id = f"41990100001320{i:06d}"
        cameras.append(
            SimCamera(
                id=camera_id, name=f"cam {i}",
                host=f"127.{first_octet + i // 62500}.{(i // 250) % 250}.{i % 250 + 1}",
                rtsp_port=rtsp_port, onvif_port=rtsp_port - 474, username="admin",
                password="pass1234",  # noqa: S106 - a synthetic camera's password
                vendor="海康威视", model="DS-2CD3T46WD",
                serial=serial_for(camera_id), auth=AuthMode.DIGEST,
            )
        )  # fmt: skip
    return cameras


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def _read_reply(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + (await reader.readexactly(length) if length else b"")


def _digest(camera: SimCamera, challenge: bytes, uri: str) -> str:
    text = challenge.decode()
    realm = text.split('realm="')[1].split('"')[0]
    nonce = text.split('nonce="')[1].split('"')[0]
    ha1 = hashlib.md5(f"{camera.username}:{realm}:{camera.password}".encode()).hexdigest()  # noqa: S324
    ha2 = hashlib.md5(f"DESCRIBE:{uri}".encode()).hexdigest()  # noqa: S324
    response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()  # noqa: S324
    return (
        f'Digest username="{camera.username}", realm="{realm}", nonce="{nonce}", '
        f'uri="{uri}", response="{response}"'
    )


async def _rtsp_client(cameras: list[SimCamera], rounds: int) -> int:
    done = 0
    for camera in cameras:
        reader, writer = await asyncio.open_connection(camera.host, camera.rtsp_port)
        uri = f"rtsp://{camera.host}:{camera.rtsp_port}{camera.rtsp_path}"
        writer.write(f"DESCRIBE {uri} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
        challenge = await _read_reply(reader)
        authorization = _digest(camera, challenge, uri)
        for n in range(rounds):
            writer.write(
                f"OPTIONS {uri} RTSP/1.0\r\nCSeq: {2 * n + 2}\r\n\r\n"
                f"DESCRIBE {uri} RTSP/1.0\r\nCSeq: {2 * n + 3}\r\n"
                f"Authorization: {authorization}\r\n\r\n".encode()
            )
            await _read_reply(reader)
            await _read_reply(reader)
            done += 2
        writer.close()
    return done + len(cameras)


async def _onvif_client(cameras: list[SimCamera], rounds: int) -> int:
    done = 0
    for camera in cameras:
        reader, writer = await asyncio.open_connection(camera.host, camera.onvif_port)
        request = (
            f"POST /onvif/device_service HTTP/1.1\r\nHost: {camera.host}\r\n"
            "Content-Type: application/soap+xml\r\n"
            f"Content-Length: {len(_SOAP)}\r\n\r\n"
        ).encode() + _SOAP
        for _ in range(rounds):
            writer.write(request)
            await _read_reply(reader)
            done += 1
        writer.close()
    return done


async def _load(cameras: list[SimCamera], client: str, seconds: float, workers: int) -> float:
    rounds = 5
    fn = _rtsp_client if client == "rtsp" else _onvif_client
    groups = [cameras[i::workers] for i in range(workers)]
    total = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        counts = await asyncio.gather(*(fn(g[:20], rounds) for g in groups))
        total += sum(counts)
    return total / (time.perf_counter() - start)


async def measure(count: int, seconds: float) -> None:
    """Start ``count`` cameras, print start-up time and RSS, then load them for ``seconds``."""
    gc.collect()
    base = _rss_kib()
    cameras = synthetic_cameras(count)
    start = time.perf_counter()
    async with Simulator(cameras) as sim:
        elapsed = time.perf_counter() - start
        gc.collect()
        rss = _rss_kib()
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        print(
            f"{count} cameras: start {elapsed:.2f} s, RSS {rss / 1024:.1f} MiB "
            f"(+{(rss - base) / 1024:.1f} MiB, {(rss - base) * 1024 / count:.0f} B/camera), "
            f"CPU {cpu.ru_utime + cpu.ru_stime:.1f} s"
        )
        if seconds > 0:
            for client in ("rtsp", "onvif"):
                rate = await _load(cameras, client, seconds, workers=32)
                print(f"  {client}: {rate:.0f} requests/s (client in the same process)")
        print(f"  requests served: {sim.requests}")


def _write_inventory(path: Path, cameras: list[SimCamera]) -> None:
    header = "设备编码,设备名称,IP地址,RTSP端口,ONVIF端口,用户名,密码,所属网格,厂商,型号"
    rows = [
        f"{c.id},{c.name},{c.host},{c.rtsp_port},{c.onvif_port},{c.username},{c.password},"
        f"419901001001001,{c.vendor},{c.model}"
        for c in cameras
    ]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def _tree_rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


async def measure_sharded(count: int, seconds: float) -> None:
    """Serve ``count`` cameras through an inventory file, sharded as ``run_simulate`` would."""
    cameras = synthetic_cameras(count)
    with tempfile.TemporaryDirectory() as folder:
        inventory = Path(folder) / "cameras.csv"
        _write_inventory(inventory, cameras)
        shards = shards_needed(count, raise_fd_limit(0))
        sim = ShardedSimulator(inventory, load_inventory(inventory), shards)
        start = time.perf_counter()
        await sim.start()
        try:
            elapsed = time.perf_counter() - start
            pids = [p.pid for p in sim._procs]
            rss = _tree_rss_kib(pids)
            print(
                f"{count} cameras in {shards} worker processes: start {elapsed:.2f} s, "
                f"workers' RSS {rss / 1024:.1f} MiB ({rss * 1024 / count:.0f} B/camera incl. "
                "each worker's interpreter)"
            )
            if seconds > 0:
                sample = cameras[:: max(1, count // 2000)]
                for client in ("rtsp", "onvif"):
                    rate = await _load(sample, client, seconds, workers=32)
                    print(f"  {client}: {rate:.0f} requests/s (client in the parent process)")
        finally:
            await sim.close()


def main() -> None:
    """Command line: ``--cameras N --seconds S [--sharded]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--sharded", action="store_true", help="through an inventory file")
    args = parser.parse_args()
    if args.sharded:
        asyncio.run(measure_sharded(args.cameras, args.seconds))
    else:
        asyncio.run(measure(args.cameras, args.seconds))


if __name__ == "__main__":
    main()
