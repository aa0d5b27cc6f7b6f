"""Benchmark: the bus publisher against a real Mosquitto on loopback.

Starts its own Mosquitto (``/usr/sbin/mosquitto``, free 127.0.0.1 port, persistence off) and
measures, with ``--messages`` retained QoS-1 statuses of ``--payload`` bytes (one topic per
camera, as the daemon publishes them):

1. publish throughput (messages/s, median of ``--repeat``; client CPU µs per message):
   aiomqtt awaiting each publish in turn (the baseline), then the publisher's own path —
   `bridge.bus.outbox.publish_all` with MQTT 5 properties — at several in-flight windows;
2. the outbox end to end: that many rows in a SQLite store, drained by `Publisher` (read,
   coalesce, publish, mark sent) from its connect until nothing is pending;
3. re-publishing the retained view after a reconnect: `Publisher` holding that many
   statuses, the broker restarted (it forgets every retained message), time from the
   broker accepting again to the re-publish done — then a fresh subscriber checks that
   every status is retained again, with QoS 1.

    .venv/bin/python bench/bench_bus.py [--messages 20000] [--payload 400] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt

from bridge.bus import outbox
from bridge.bus.connection import PropertiesCache, make_client, parse_broker_url
from bridge.bus.message import Message
from bridge.bus.publisher import Publisher, PublisherOptions
from bridge.secretbox import SecretBox
from bridge.settings import MqttSettings
from bridge.store import Store, sqlite_url

MOSQUITTO = "/usr/sbin/mosquitto"
ROOT = "bench"
WINDOWS = (1, 10, 20, 50, 100)


class Broker:
    """A Mosquitto of the benchmark's own; restartable on the same port."""

    def __init__(self, directory: Path, *, nodelay: bool = False) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.config = directory / "mosquitto.conf"
        # max_queued_messages: let one subscriber receive every retained status at once
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 0\n" + ("set_tcp_nodelay true\n" if nodelay else "")
        )
        self.log = directory / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: ASYNC220 - a one-off launch
                [MOSQUITTO, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        for _ in range(250):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.02)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(5)
            self.process = None


def statuses(n: int, size: int) -> list[Message]:
    out = []
    for i in range(n):
        cam = f"34010200001320{i:06d}"
        topic = f"{ROOT}/grid/419901001/419901001002/419901001002003/camera/{cam}/status"
        head = json.dumps({"schema": "gridbridge.status/1", "id": cam, "state": "online"})
        pad = max(0, size - len(head) - 10)
        payload = (head[:-1] + f',"pad":"{"x" * pad}"}}').encode()
        out.append(Message(topic, payload, 1, True))
    return out


async def timed(run: Any, n: int) -> dict[str, float]:
    cpu0, t0 = time.process_time(), time.perf_counter()
    await run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"rate": n / wall, "cpu_us": cpu / n * 1e6}


async def throughput(broker: Broker, messages: list[Message], repeat: int) -> dict[str, Any]:
    address = parse_broker_url(broker.url)
    results: dict[str, Any] = {}

    async def await_each() -> dict[str, float]:
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, protocol=aiomqtt.ProtocolVersion.V5
        ) as client:

            async def go() -> None:
                for m in messages:
                    await client.publish(m.topic, m.payload, qos=1, retain=True)

            return await timed(go, len(messages))

    async def windowed(window: int) -> dict[str, float]:
        client = make_client(
            address,
            client_id=f"bench-{window}",
            protocol=aiomqtt.ProtocolVersion.V5,
            will=Message(f"{ROOT}/bridge/state", b"offline", 1, True),
            keepalive_s=30,
            timeout_s=10.0,
            window=window,
            tls=None,
        )
        props = PropertiesCache()
        async with client:

            async def send(m: Message) -> None:
                await client.publish(
                    m.topic, m.payload, qos=1, retain=True, properties=props.of(m), timeout=10.0
                )

            items = [outbox.Planned(m) for m in messages]
            return await timed(lambda: outbox.publish_all(send, items, window), len(messages))

    # round robin, so that a change of load on the machine hits every path alike
    for _ in range(repeat):
        results.setdefault("aiomqtt, await each", []).append(await await_each())
        for window in WINDOWS:
            results.setdefault(f"publisher window {window}", []).append(await windowed(window))
    return results


async def nothing() -> AsyncIterator[Message]:
    return
    yield


async def outbox_drain(broker: Broker, messages: list[Message], directory: Path) -> dict[str, Any]:
    runs = []
    for n in range(2):
        store = Store(sqlite_url(directory / f"db{n}"), SecretBox(SecretBox.generate_key()))
        async with store:
            await store.enqueue(messages)
            settings = MqttSettings(url=broker.url, root=ROOT, client_id=f"bench-drain-{n}")
            publisher = Publisher(settings, store, nothing)
            task = asyncio.create_task(publisher.run())
            cpu0, t0 = time.process_time(), time.perf_counter()
            for _ in range(60_000):  # ≤ 10 min
                if not await store.pending(1):
                    break
                await asyncio.sleep(0.01)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            await publisher.close()
            await task
        runs.append({"rate": len(messages) / wall, "cpu_us": cpu / len(messages) * 1e6})
    return {"outbox drain (SQLite → broker → marked sent)": runs}


class Republished(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.done = asyncio.Event()
        self.took_s: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("re-published"):
            self.took_s.append(float(record.args[1]))  # type: ignore[index]
            self.done.set()


async def count_retained(port: int, expected: int) -> dict[str, int]:
    seen: dict[str, tuple[int, bool]] = {}
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        await client.subscribe(f"{ROOT}/grid/#", qos=1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(20):
                async for m in client.messages:
                    seen[str(m.topic)] = (m.qos, m.retain)
                    if len(seen) >= expected:
                        break
    return {
        "retained": sum(1 for qos, retain in seen.values() if retain),
        "qos1": sum(1 for qos, _ in seen.values() if qos == 1),
    }


async def republish_after_restart(
    broker: Broker, messages: list[Message], directory: Path, repeat: int
) -> dict[str, Any]:
    async def view() -> AsyncIterator[Message]:
        for m in messages:
            yield m

    handler = Republished()
    logging.getLogger("bridge.bus.publisher").addHandler(handler)
    logging.getLogger("bridge.bus.publisher").setLevel(logging.INFO)
    store = Store(sqlite_url(directory / "db-view"), SecretBox(SecretBox.generate_key()))
    walls: list[float] = []
    async with store:
        settings = MqttSettings(url=broker.url, root=ROOT, client_id="bench-view")
        options = PublisherOptions(reconnect_first_s=0.05, reconnect_max_s=0.2)
        publisher = Publisher(settings, store, view, options=options)
        task = asyncio.create_task(publisher.run())
        await handler.done.wait()
        for _ in range(repeat):
            handler.done.clear()
            broker.stop()
            await broker.start()
            t0 = time.perf_counter()
            await handler.done.wait()
            walls.append(time.perf_counter() - t0)
        check = await count_retained(broker.port, len(messages))
        await publisher.close()
        await task
    return {"publisher_s": handler.took_s[1:], "wall_s": walls, **check}


def med(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--payload", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--broker-nodelay",
        action="store_true",
        help="set_tcp_nodelay true in the broker (Mosquitto's default is false)",
    )
    args = parser.parse_args()
    if not shutil.which(MOSQUITTO):
        sys.exit(f"{MOSQUITTO} not found: apt-get install mosquitto")
    messages = statuses(args.messages, args.payload)
    with tempfile.TemporaryDirectory(prefix="bench-bus-") as tmp:
        directory = Path(tmp)
        broker = Broker(directory, nodelay=args.broker_nodelay)
        await broker.start()
        try:
            rates = await throughput(broker, messages, args.repeat)
            rates.update(await outbox_drain(broker, messages, directory))
            again = await republish_after_restart(broker, messages, directory, args.repeat)
        finally:
            broker.stop()
            shutil.rmtree(directory, ignore_errors=True)
    n, size = args.messages, len(messages[0].payload)
    print(f"\nbus publisher → Mosquitto 2 on loopback; {n:,} retained QoS-1 statuses of {size} B")
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, aiomqtt {aiomqtt.__version__}")
    print(f"broker set_tcp_nodelay: {'true' if args.broker_nodelay else 'false (default)'}")
    print(f"\n{'path':<48}{'msgs/s (median)':>16}{'× baseline':>12}{'client CPU µs/msg':>19}")
    base = med(rates["aiomqtt, await each"], "rate")
    for name, runs in rates.items():
        rate = med(runs, "rate")
        print(f"{name:<48}{rate:>16,.0f}{rate / base:>12.1f}{med(runs, 'cpu_us'):>19.0f}")
    print(f"\nre-publish of {n:,} retained statuses after a broker restart ({args.repeat} runs):")
    print(
        f"  publisher, connect → all acknowledged: {statistics.median(again['publisher_s']):.2f} s"
    )
    print(f"  broker accepting again → re-publish done: {statistics.median(again['wall_s']):.2f} s")
    print(f"  fresh subscriber: {again['retained']:,} retained, {again['qos1']:,} with QoS 1")
    summary = {k: {"rate": med(v, "rate"), "cpu_us": med(v, "cpu_us")} for k, v in rates.items()}
    print(json.dumps({"messages": n, "payload": size, "throughput": summary, "republish": again}))


if __name__ == "__main__":
    asyncio.run(main())
