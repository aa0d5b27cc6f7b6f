"""Benchmark: which embedded broker for ``mqtt.url = ""`` — amqtt in-process or Mosquitto?

Measures both through :func:`bridge.bus.embedded.embedded_broker` (the code the daemon runs),
on loopback, in one run, and prints a table plus one JSON line:

- start/stop: wall time from entering ``embedded_broker`` to the yielded URL, and to stop
  (median of ``--repeat``), plus amqtt's import time in a fresh interpreter;
- throughput: ``--messages`` retained QoS-1 statuses (``--payload`` bytes, one topic per
  camera) from paho-mqtt (its network thread, 100 in flight) and from aiomqtt awaiting each
  publish; the broker runs in a child process so its CPU is measured on its own
  (µs of broker CPU per message, from /proc);
- retained: a fresh QoS-1 subscriber to everything gets every retained status once, with
  the retain flag and QoS 1; an empty retained payload clears a topic; a newer value
  replaces the older one; broker memory (RSS) holding them;
- in-process: amqtt on the publisher's own event loop, as the daemon would run it — what
  the daemon's process pays per message, next to the same publisher against Mosquitto;
- Mosquitto's default ``max_queued_messages`` (1000) against a subscriber of all retained
  statuses, to show why deploy/mosquitto/mosquitto.conf raises it.

    .venv/bin/python bench/bench_broker.py [--messages 20000] [--payload 600] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bridge.bus.embedded import embedded_broker, find_mosquitto

Result = dict[str, Any]
TOPIC = "bench/grid/419901001/419901001002/419901001002003/camera/{i:020d}/status"


def children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    return [int(c) for t in tasks.iterdir() for c in (t / "children").read_text().split()]


def tree(pid: int) -> list[int]:
    """A live process and its live descendants."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            todo += children(p)
        except (OSError, ValueError):
            continue
        found.append(p)
    return found


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its descendants, from /proc."""
    total = 0.0
    for p in tree(pid):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{p}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, MB."""
    kb = 0
    for p in tree(pid):
        with contextlib.suppress(OSError):
            lines = Path(f"/proc/{p}/status").read_text().splitlines()
            kb += sum(int(line.split()[1]) for line in lines if line.startswith("VmRSS:"))
    return kb / 1024


def only_child(pid: int) -> int:
    found = children(pid)
    if len(found) != 1:
        raise RuntimeError(f"expected one broker process under {pid}, found {found}")
    return found[0]


def payload(i: int, size: int) -> bytes:
    body = {"schema": "gridbridge.status/1", "id": f"{i:020d}", "state": "online", "pad": ""}
    raw = json.dumps(body, separators=(",", ":"))
    body["pad"] = "x" * max(0, size - len(raw))
    return json.dumps(body, separators=(",", ":")).encode()


def host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("mqtt://").rsplit(":", 1)
    return host, int(port)


# --- the broker in a child process ------------------------------------------------------


async def serve(kind: str) -> None:
    """Child mode: run the embedded broker, print its URL, stop when stdin closes."""
    async with embedded_broker(kind=kind) as url:  # type: ignore[arg-type]
        print(url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


class Child:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.errors = ""

    def __enter__(self) -> Child:
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", self.kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url:
            raise RuntimeError(f"{self.kind} child did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.stderr.seek(0)
        self.errors = self.stderr.read()
        self.stderr.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


# --- clients ----------------------------------------------------------------------------


def paho_client(name: str) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=name)
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)
    return client


def paho_publish(url: str, messages: list[tuple[str, bytes]], *, retain: bool = True) -> float:
    """Publish QoS 1 from paho's network thread; seconds until every PUBACK."""
    host, port = host_port(url)
    done = threading.Event()
    acked = 0

    def on_publish(*_: Any) -> None:
        nonlocal acked
        acked += 1
        if acked == len(messages):
            done.set()

    client = paho_client(f"bench-pub-{time.monotonic_ns()}")
    client.on_publish = on_publish
    client.connect(host, port)
    client.loop_start()
    try:
        start = time.perf_counter()
        for topic, body in messages:
            client.publish(topic, body, qos=1, retain=retain)
        if not done.wait(120):
            raise RuntimeError(f"only {acked}/{len(messages)} acknowledged")
        return time.perf_counter() - start
    finally:
        client.disconnect()
        client.loop_stop()


def paho_collect(url: str, pattern: str, expected: int, idle_s: float = 3.0) -> Result:
    """Subscribe QoS 1 and gather what arrives until ``expected`` or ``idle_s`` of silence."""
    host, port = host_port(url)
    got: dict[str, tuple[bytes, bool, int]] = {}
    duplicates = 0
    last = [time.monotonic()]
    full = threading.Event()

    def on_message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        nonlocal duplicates
        duplicates += msg.topic in got
        got[msg.topic] = (bytes(msg.payload), bool(msg.retain), msg.qos)
        last[0] = time.monotonic()
        if len(got) >= expected:
            full.set()

    client = paho_client(f"bench-sub-{time.monotonic_ns()}")
    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()
    start = time.perf_counter()
    client.subscribe(pattern, qos=1)
    while not full.wait(0.05):
        if time.monotonic() - last[0] > idle_s:
            break
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return {"got": got, "duplicates": duplicates, "s": elapsed}


async def aiomqtt_publish(url: str, messages: list[tuple[str, bytes]]) -> float:
    host, port = host_port(url)
    async with aiomqtt.Client(host, port, identifier=f"bench-aio-{time.monotonic_ns()}") as c:
        start = time.perf_counter()
        for topic, body in messages:
            await c.publish(topic, body, qos=1, retain=True)
        return time.perf_counter() - start


# --- measurements -----------------------------------------------------------------------


async def start_stop(kind: str, repeat: int) -> Result:
    starts, stops = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        async with embedded_broker(kind=kind) as url:  # type: ignore[arg-type]
            t1 = time.perf_counter()
            await aiomqtt_publish(url, [("bench/x", b"x")])  # it really answers
            t2 = time.perf_counter()
        t3 = time.perf_counter()
        starts.append(t1 - t0)
        stops.append(t3 - t2)
    return {
        "start_ms": 1000 * statistics.median(starts),
        "stop_ms": 1000 * statistics.median(stops),
    }


def import_ms() -> float:
    code = (
        "import time; t = time.perf_counter(); import amqtt.broker; print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return 1000 * float(out.stdout)


def retained_checks(url: str, messages: list[tuple[str, bytes]]) -> Result:
    """A fresh subscriber sees each retained status once, retained, QoS 1; clear; replace.

    Also: a subscriber to one camera's topic that connects right after another subscriber
    left should get exactly that one retained message (amqtt 0.12.1 was seen to hand it
    the previous subscriber's messages too); the last check waits 2.5 s first.
    """
    collected = paho_collect(url, "bench/#", len(messages))
    got = collected["got"]
    want = dict(messages)
    exact = all(got.get(t) == (b, True, 1) for t, b in want.items())
    cleared_topic, replaced_topic = messages[0][0], messages[1][0]
    paho_publish(url, [(cleared_topic, b""), (replaced_topic, b"newer")])
    narrow_topic = messages[5][0]
    narrow = paho_collect(url, narrow_topic, 10**9, idle_s=1.0)
    time.sleep(2.5)
    again = paho_collect(url, "bench/grid/+/+/+/camera/+/status", 10**9, idle_s=1.5)
    return {
        "retained_received": len(got),
        "retained_exact": exact and collected["duplicates"] == 0,
        "retained_fetch_s": collected["s"],
        "empty_payload_clears": cleared_topic not in again["got"],
        "newer_replaces": again["got"].get(replaced_topic, (b"",))[0] == b"newer",
        "second_fetch_duplicates": again["duplicates"],
        "narrow_sub_right_after_foreign": len(set(narrow["got"]) - {narrow_topic}),
        "narrow_sub_right_after_dupes": narrow["duplicates"],
    }


def child_figures(kind: str, messages: list[tuple[str, bytes]]) -> Result:
    """Broker in a child process: throughput, broker CPU per message, retained, memory."""
    with Child(kind) as child:
        # Mosquitto runs under the child Python process: count the broker only.
        broker_pid = child.pid if kind == "amqtt" else only_child(child.pid)
        base_rss = rss_mb(broker_pid)
        cpu0 = cpu_s(child.pid)
        paho_s = paho_publish(child.url, messages)
        cpu1 = cpu_s(child.pid)
        aio_s = asyncio.run(aiomqtt_publish(child.url, messages))
        cpu2 = cpu_s(child.pid)
        held_rss = rss_mb(broker_pid)
        retained = retained_checks(child.url, messages)
    n = len(messages)
    return {
        "paho_msgs_s": n / paho_s,
        "aiomqtt_msgs_s": n / aio_s,
        "broker_cpu_us_per_msg_paho": 1e6 * (cpu1 - cpu0) / n,
        "broker_cpu_us_per_msg_aiomqtt": 1e6 * (cpu2 - cpu1) / n,
        "broker_rss_mb_idle": base_rss,
        "broker_rss_mb_retained": held_rss,
        **retained,
        "tracebacks_at_stop": child.errors.count("Traceback"),
    }


async def in_process(kind: str, messages: list[tuple[str, bytes]]) -> Result:
    """aiomqtt on this loop against the embedded broker; this process's CPU per message."""
    async with embedded_broker(kind=kind) as url:  # type: ignore[arg-type]
        c0, t0 = time.process_time(), time.perf_counter()
        await aiomqtt_publish(url, messages)
        c1, t1 = time.process_time(), time.perf_counter()
    n = len(messages)
    return {"inproc_msgs_s": n / (t1 - t0), "inproc_process_cpu_us_per_msg": 1e6 * (c1 - c0) / n}


def mosquitto_default_queue(messages: list[tuple[str, bytes]]) -> Result:
    """Retained statuses a QoS-1 subscriber of everything gets from a default Mosquitto."""
    exe = find_mosquitto()
    assert exe is not None
    with tempfile.TemporaryDirectory() as tmp:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        conf = Path(tmp) / "m.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        proc = subprocess.Popen(
            [str(exe), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            url = f"mqtt://127.0.0.1:{port}"
            time.sleep(0.5)  # no readiness signal without a log; it starts in ~30 ms
            paho_publish(url, messages)
            got = paho_collect(url, "bench/#", len(messages))["got"]
        finally:
            proc.terminate()
            proc.wait(10)
    return {"default_queue_received": len(got), "sent": len(messages)}


def fmt(value: Any) -> str:
    return f"{value:,.1f}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--payload", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--serve", choices=["amqtt", "mosquitto"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return

    messages = [(TOPIC.format(i=i), payload(i, args.payload)) for i in range(args.messages)]
    kinds = ["amqtt"] + (["mosquitto"] if find_mosquitto() else [])
    results: dict[str, Result] = {}
    steps: list[tuple[str, Callable[[str], Result]]] = [
        ("start/stop", lambda k: asyncio.run(start_stop(k, args.repeat))),
        ("child", lambda k: child_figures(k, messages)),
        ("in-process", lambda k: asyncio.run(in_process(k, messages))),
    ]
    for kind in kinds:
        results[kind] = {}
        for label, step in steps:
            print(f"{kind}: {label} …", file=sys.stderr, flush=True)
            results[kind].update(step(kind))
    results["amqtt"]["import_ms"] = import_ms()
    if "mosquitto" in kinds:
        print("mosquitto: default max_queued_messages …", file=sys.stderr, flush=True)
        results["mosquitto"].update(mosquitto_default_queue(messages))

    keys = sorted({k for r in results.values() for k in r})
    width = max(map(len, keys))
    print(f"{'':{width}}  " + "  ".join(f"{k:>14}" for k in kinds))
    for key in keys:
        cells = "  ".join(f"{fmt(results[k].get(key, '-')):>14}" for k in kinds)
        print(f"{key:{width}}  {cells}")
    if "mosquitto" in kinds:
        a, m = results["amqtt"], results["mosquitto"]
        m_cpu, ratio = m["broker_cpu_us_per_msg_paho"], m["paho_msgs_s"] / a["paho_msgs_s"]
        cpu = f"{a['broker_cpu_us_per_msg_paho'] / m_cpu:.0f}x" if m_cpu else "n/a (too few)"
        print(f"mosquitto/amqtt: {ratio:.1f}x paho throughput, amqtt {cpu} broker CPU/msg")
    print(json.dumps({"messages": args.messages, "payload": args.payload, "results": results}))


if __name__ == "__main__":
    main()
