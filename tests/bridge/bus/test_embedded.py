"""The embedded broker for ``mqtt.url = ""``: both kinds, real clients, real sockets."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator

import aiomqtt
import pytest

from bridge.bus.embedded import EmbeddedBrokerError, embedded_broker, find_mosquitto
from tests.support import peer_missing

Kind = str


def need(kind: Kind) -> None:
    if kind == "mosquitto" and find_mosquitto() is None:
        peer_missing("mosquitto is not installed (apt-get install mosquitto)")
    if kind == "amqtt":
        try:
            import amqtt.broker  # noqa: F401
        except ImportError:
            peer_missing("amqtt is not installed (a dependency of gridbridge)")


@pytest.fixture(params=["mosquitto", "amqtt"])
def kind(request: pytest.FixtureRequest) -> Kind:
    need(request.param)
    return str(request.param)


def host_port(url: str) -> tuple[str, int]:
    assert url.startswith("mqtt://127.0.0.1:")
    host, port = url.removeprefix("mqtt://").rsplit(":", 1)
    return host, int(port)


def accepting(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A 127.0.0.1 port with a listener of ours on it."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


async def test_publish_and_subscribe_through_it_then_it_is_gone(kind: Kind) -> None:
    topic = f"gbtest/{kind}/grid/T1/V1/G1/camera/c1/status"
    async with embedded_broker(kind=kind) as url:  # type: ignore[arg-type]
        host, port = host_port(url)
        async with aiomqtt.Client(host, port, identifier="pub", timeout=5) as pub:
            await pub.publish(topic, b'{"state":"online"}', qos=1, retain=True)
            await pub.publish(f"{topic}/gone", b"x", qos=1, retain=True)
            await pub.publish(f"{topic}/gone", b"", qos=1, retain=True)  # clears it
        async with aiomqtt.Client(host, port, identifier="sub", timeout=5) as sub:
            await sub.subscribe("gbtest/#", qos=1)
            async with asyncio.timeout(5):
                message = await anext(aiter(sub.messages))
            received = (message.topic.value, message.payload, message.retain, message.qos)
            assert received == (topic, b'{"state":"online"}', True, 1)
            # Live traffic after the retained one, in order, not retained.
            async with aiomqtt.Client(host, port, identifier="pub2", timeout=5) as pub:
                await pub.publish(topic, b'{"state":"offline"}', qos=1, retain=True)
            async with asyncio.timeout(5):
                message = await anext(aiter(sub.messages))
            received = (message.topic.value, message.payload, message.retain, message.qos)
            assert received == (topic, b'{"state":"offline"}', False, 1)
    assert not accepting(port)


async def test_auto_prefers_mosquitto_when_installed(caplog: pytest.LogCaptureFixture) -> None:
    need("mosquitto")
    caplog.set_level(logging.INFO, logger="bridge.bus.embedded")
    async with embedded_broker() as url:
        _, port = host_port(url)
        assert accepting(port)
    assert "embedded broker (mosquitto pid" in caplog.text
    assert f"listening on {url}" in caplog.text


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com", ""])
async def test_non_loopback_hosts_are_refused(host: str) -> None:
    with pytest.raises(EmbeddedBrokerError, match=r"loopback|not an IP address"):
        async with embedded_broker(host=host):
            pytest.fail("started")


async def test_a_taken_port_is_an_error(kind: Kind, taken_port: int) -> None:
    with pytest.raises(EmbeddedBrokerError, match=f"{taken_port}"):
        async with embedded_broker(kind=kind, port=taken_port):  # type: ignore[arg-type]
            pytest.fail("started")


async def test_a_missed_start_deadline_is_an_error_and_leaves_nothing_behind() -> None:
    need("mosquitto")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(EmbeddedBrokerError, match="did not start"):
        async with embedded_broker(kind="mosquitto", port=port, start_timeout_s=0.001):
            pytest.fail("started")
    await asyncio.sleep(0.3)
    assert not accepting(port)


async def test_cancelled_while_in_use_stops_the_broker(kind: Kind) -> None:
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def use() -> None:
        async with embedded_broker(kind=kind) as url:  # type: ignore[arg-type]
            ready.set_result(url)
            await asyncio.Event().wait()

    task = asyncio.create_task(use())
    _, port = host_port(await asyncio.wait_for(ready, 10))
    assert accepting(port)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not accepting(port)
