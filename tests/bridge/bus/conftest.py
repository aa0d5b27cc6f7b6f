"""Real peers for the bus tests: a Mosquitto of the test's own, a subscriber that records
what the broker delivers (topic, payload, QoS, retain flag, properties), and a TCP proxy
that can cut connections abruptly or play a broker that refuses MQTT 5."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import secrets
import socket
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import aiomqtt
import pytest
from paho.mqtt.subscribeoptions import SubscribeOptions

from bridge.bus.message import Message
from bridge.bus.publisher import Publisher, PublisherOptions
from bridge.bus.topics import GridPath, Topics
from bridge.secretbox import SecretBox
from bridge.settings import MqttSettings
from bridge.store import Store, sqlite_url
from tests.support import MosquittoProcess

WAIT_S = 10.0


@pytest.fixture
async def mosquitto(tmp_path: Path) -> AsyncIterator[MosquittoProcess]:
    """A started Mosquitto on a free 127.0.0.1 port, stopped after the test; the test may
    ``await mosquitto.stop()`` and ``await mosquitto.start()`` it (same port)."""
    directory = tmp_path / "mosquitto"
    directory.mkdir()
    broker = MosquittoProcess(directory)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    """A started store on a SQLite file (the outbox itself is tested on both backends)."""
    async with Store(sqlite_url(tmp_path / "data"), SecretBox(SecretBox.generate_key())) as s:
        yield s


@pytest.fixture
def root() -> str:
    """A topic root unique to the test."""
    return f"gbt{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Got:
    """One delivered message; equality on what the contract fixes (topic, payload, QoS,
    retain), properties kept aside."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    props: dict[str, Any] = field(default_factory=dict, compare=False)


class Watcher:
    """Subscribes (MQTT 5, QoS 2, retain-as-published) and records every delivery, so
    the QoS and retain flag seen are those the publisher used.  Live messages keep their
    retain flag; retained ones sent at subscription have it too."""

    def __init__(self, port: int, topic_filter: str) -> None:
        self.port = port
        self.filter = topic_filter
        self.got: list[Got] = []
        self._new = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._client = aiomqtt.Client(
            "127.0.0.1",
            self.port,
            identifier=f"watch-{secrets.token_hex(4)}",
            protocol=aiomqtt.ProtocolVersion.V5,
        )
        await self._client.__aenter__()
        options = SubscribeOptions(qos=2, retainAsPublished=True)
        await self._client.subscribe(self.filter, options=options)
        self._task = asyncio.create_task(self._collect())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.__aexit__(None, None, None)

    async def _collect(self) -> None:
        assert self._client is not None
        with contextlib.suppress(aiomqtt.MqttError):
            async for m in self._client.messages:
                props = {}
                if m.properties is not None:
                    for name in ("ContentType", "MessageExpiryInterval", "CorrelationData"):
                        if hasattr(m.properties, name):
                            props[name] = getattr(m.properties, name)
                payload = m.payload if isinstance(m.payload, bytes) else b""
                self.got.append(Got(str(m.topic), payload, m.qos, m.retain, props))
                self._new.set()

    def on(self, topic: str) -> list[Got]:
        return [g for g in self.got if g.topic == topic]

    async def wait_for(
        self, ready: Callable[[list[Got]], bool], timeout_s: float = WAIT_S
    ) -> list[Got]:
        """Wait until ``ready(self.got)``; fails the test with what arrived otherwise."""
        try:
            async with asyncio.timeout(timeout_s):
                while not ready(self.got):
                    self._new.clear()
                    await self._new.wait()
        except TimeoutError:
            shown = "\n".join(f"  {g}" for g in self.got[-20:])
            pytest.fail(f"not delivered within {timeout_s} s; last received:\n{shown}")
        return self.got

    async def quiet(self, seconds: float = 0.3) -> None:
        """Let deliveries in flight arrive."""
        await asyncio.sleep(seconds)


class TcpProxy:
    """127.0.0.1 proxy to a broker.  `cut` aborts every live connection (no DISCONNECT:
    the broker publishes the client's last will); while ``accepting`` is False new
    connections are dropped at once; with ``refuse_v5`` it answers an MQTT 5 CONNECT like
    a 3.1.1-only broker (CONNACK 0x01, close) and passes 3.1.1 through to the broker."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.accepting = True
        self.refuse_v5 = False
        self.refused_v5 = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def cut(self) -> None:
        """Reset every live connection (RST both ways, as a dying network path would)."""
        for writer in list(self._writers):
            sock = writer.get_extra_info("socket")
            with contextlib.suppress(OSError):  # already closed by the other side
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            writer.transport.abort()
            return
        first = b""
        if self.refuse_v5:
            first = await _read_packet(reader)
            name_len = int.from_bytes(first[_header_len(first) : _header_len(first) + 2], "big")
            level = first[_header_len(first) + 2 + name_len]
            if level == 5:
                self.refused_v5 += 1
                writer.write(b"\x20\x02\x00\x01")
                await writer.drain()
                writer.close()
                return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers.update((writer, up_writer))
        up_writer.write(first)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(_pump(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


def _header_len(packet: bytes) -> int:
    n = 1
    while packet[n] & 0x80:
        n += 1
    return n + 1


async def _read_packet(reader: asyncio.StreamReader) -> bytes:
    data = await reader.readexactly(2)
    while data[-1] & 0x80:
        data += await reader.readexactly(1)
    length, multiplier = 0, 1
    for byte in data[1:]:
        length += (byte & 0x7F) * multiplier
        multiplier *= 128
    return data + await reader.readexactly(length)


async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while chunk := await src.read(65536):
            dst.write(chunk)
            await dst.drain()
    dst.transport.abort()


# --- building and running a publisher --------------------------------------------------

PATH = GridPath("419901001", "419901001002", "419901001002003")
FAST = PublisherOptions(
    reconnect_first_s=0.1, reconnect_max_s=0.5, poll_interval_s=0.2, publish_timeout_s=5.0
)


def status(topics: Topics, camera: str, state: str, path: GridPath = PATH) -> Message:
    body = json.dumps({"schema": "gridbridge.status/1", "id": camera, "state": state})
    return Message(topics.status(path, camera), body.encode(), 1, True)


def settings(url: str, root: str, **fields: Any) -> MqttSettings:
    return MqttSettings(
        url=url,
        root=root,
        client_id=f"{root}-bridge",
        keepalive_s=5,
        connect_timeout_s=3.0,
        **fields,
    )


class View:
    """The daemon's retained view, as `republish()` yields it."""

    def __init__(self, *messages: Message) -> None:
        self.messages = {m.topic: m for m in messages}
        self.calls = 0

    def set(self, message: Message) -> None:
        self.messages[message.topic] = message

    async def republish(self) -> AsyncIterator[Message]:
        self.calls += 1
        for message in list(self.messages.values()):
            yield message


@asynccontextmanager
async def running(publisher: Publisher) -> AsyncIterator[Publisher]:
    task = asyncio.create_task(publisher.run(), name="publisher")
    try:
        yield publisher
    finally:
        await publisher.close()
        await asyncio.wait_for(task, 15)


async def eventually(
    check: Callable[[], Any], *, expect: Any = True, timeout_s: float = 10.0
) -> None:
    """Wait until ``check()`` (awaited when it returns an awaitable) equals ``expect``."""
    for _ in range(int(timeout_s / 0.05)):
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value == expect:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"still {value!r} after {timeout_s} s")


def state(topics: Topics, payload: bytes) -> Got:
    return Got(topics.bridge_state(), payload, 1, True)
