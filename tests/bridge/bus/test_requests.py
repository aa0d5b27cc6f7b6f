"""Workstation requests through a real Mosquitto: answers with the id echoed, MQTT 5 response
topics and correlation data, error responses for bad requests, rate limits.  Every delivery
is checked on topic, payload, QoS and retain flag together (`Got`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bridge.bus.payloads import parse_request, response_payload
from bridge.bus.publisher import Publisher, PublisherOptions
from bridge.bus.ratelimit import RateLimit, RequestLimits
from bridge.bus.requests import Responder
from bridge.bus.topics import GridPath, Topics
from bridge.store import Store
from tests.bridge.bus.conftest import (
    FAST,
    PATH,
    Got,
    View,
    Watcher,
    running,
    settings,
)
from tests.support import MosquittoProcess

# --- requests -------------------------------------------------------------------------------


async def answer(path: GridPath, camera_id: str, payload: bytes, props: Mapping[str, str]) -> bytes:
    request = parse_request(payload)
    data = {"camera": camera_id, "grid": path.grid, "client": props.get("client")}
    return response_payload(request.id, True, action=request.action, data=data)


@asynccontextmanager
async def asker(port: int, protocol: aiomqtt.ProtocolVersion) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client("127.0.0.1", port, protocol=protocol) as client:
        yield client


def request_props(
    response_topic: str | None, correlation: bytes | None, client: str | None
) -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    if response_topic is not None:
        props.ResponseTopic = response_topic
    if correlation is not None:
        props.CorrelationData = correlation
    if client is not None:
        props.UserProperty = [("client", client)]
    return props


def responses(got: list[Got]) -> list[Got]:
    return [g for g in got if g.topic.endswith("/response")]


def body(got: Got) -> dict[str, Any]:
    return json.loads(got.payload)


async def test_request_answered_on_the_response_topic_with_the_id_echoed(
    mosquitto: MosquittoProcess, sqlite_store: Store, root: str
) -> None:
    topics = Topics(root)
    publisher = Publisher(
        settings(mosquitto.url, root), sqlite_store, View().republish, answer, options=FAST
    )
    response = topics.response(PATH, "cam1")
    async with Watcher(mosquitto.port, f"{root}/#") as watch, running(publisher):
        await watch.wait_for(lambda got: len(got) == 1)
        async with asker(mosquitto.port, aiomqtt.ProtocolVersion.V311) as client:
            await client.publish(
                topics.request(PATH, "cam1"), b'{"action":"recheck","id":42}', qos=1
            )
            await watch.wait_for(lambda got: len(watch.on(response)) == 1)
    expected = response_payload(
        "42", True, action="recheck", data={"camera": "cam1", "grid": PATH.grid, "client": None}
    )
    assert watch.on(response) == [Got(response, expected, 1, False)]
    assert watch.on(response)[0].props == {"ContentType": "application/json"}


async def test_mqtt5_response_topic_and_correlation_data_are_honoured(
    mosquitto: MosquittoProcess, sqlite_store: Store, root: str
) -> None:
    topics = Topics(root)
    publisher = Publisher(
        settings(mosquitto.url, root), sqlite_store, View().republish, answer, options=FAST
    )
    inbox = f"ws-{root}/inbox"
    async with Watcher(mosquitto.port, "#") as watch, running(publisher):
        await watch.wait_for(lambda got: len(got) >= 1)
        async with asker(mosquitto.port, aiomqtt.ProtocolVersion.V5) as client:
            ask = topics.request(PATH, "cam1")
            props = request_props(inbox, b"\x01corr", "ws-7")
            await client.publish(ask, b'{"action":"snapshot","id":"a"}', qos=1, properties=props)
            await watch.wait_for(lambda got: len(watch.on(inbox)) == 1)
            # a response topic inside our tree but not the camera's response: refused
            props = request_props(topics.bridge_state(), b"x", None)
            await client.publish(ask, b'{"action":"snapshot","id":"b"}', qos=1, properties=props)
            await watch.wait_for(lambda got: len(watch.on(topics.response(PATH, "cam1"))) == 1)
    [got] = watch.on(inbox)
    assert got == Got(
        inbox,
        response_payload(
            "a",
            True,
            action="snapshot",
            data={"camera": "cam1", "grid": PATH.grid, "client": "ws-7"},
        ),
        1,
        False,
    )
    assert got.props == {"ContentType": "application/json", "CorrelationData": b"\x01corr"}
    [fallback] = watch.on(topics.response(PATH, "cam1"))
    assert (body(fallback)["id"], fallback.qos, fallback.retain) == ("b", 1, False)
    assert fallback.props["CorrelationData"] == b"x"
    assert {g.payload for g in watch.on(topics.bridge_state())} <= {b"online", b"offline"}


async def test_bad_requests_get_error_responses_and_break_nothing(
    mosquitto: MosquittoProcess, sqlite_store: Store, root: str
) -> None:
    topics = Topics(root)

    async def handler(
        path: GridPath, camera_id: str, payload: bytes, props: Mapping[str, str]
    ) -> bytes | None:
        request = parse_request(payload)
        if camera_id == "boom":
            raise RuntimeError("handler bug")
        if camera_id == "slow":
            await asyncio.sleep(30)
        if camera_id == "silent":
            return None
        return response_payload(request.id, True, action=request.action)

    options = PublisherOptions(request_timeout_s=0.3, poll_interval_s=0.2)
    publisher = Publisher(
        settings(mosquitto.url, root), sqlite_store, View().republish, handler, options=options
    )
    cases = [
        ("c1", b"{not json", None, "request is not valid JSON"),
        ("c2", b'{"action":"reboot","id":"7"}', "7", "unknown action"),
        ("c3", b'{"action":"snapshot","id":"' + b"x" * 5000 + b'"}', None, "bytes, at most 4096"),
        ("boom", b'{"action":"recheck","id":"b"}', "b", "internal error"),
        ("slow", b'{"action":"recheck","id":"s"}', "s", "request timed out"),
    ]
    async with Watcher(mosquitto.port, f"{root}/grid/#") as watch, running(publisher):
        async with asker(mosquitto.port, aiomqtt.ProtocolVersion.V311) as client:
            await asyncio.sleep(0.3)
            for camera, payload, _, _ in cases:
                await client.publish(topics.request(PATH, camera), payload, qos=1)
            await client.publish(topics.request(PATH, "silent"), b'{"action":"recheck"}', qos=1)
            await client.publish(
                topics.request(PATH, "fine"), b'{"action":"recheck","id":1}', qos=1
            )
            await watch.wait_for(lambda got: len(responses(got)) == len(cases) + 1)
            await watch.quiet()
        assert publisher.connected
    for camera, _, request_id, error in cases:
        [got] = watch.on(topics.response(PATH, camera))
        assert (got.qos, got.retain) == (1, False)
        reply = body(got)
        assert (reply["id"], reply["ok"]) == (request_id, False)
        assert error in reply["error"]
    assert watch.on(topics.response(PATH, "silent")) == []
    assert body(watch.on(topics.response(PATH, "fine"))[0])["ok"] is True


async def test_rate_limits_per_camera_and_per_client(
    mosquitto: MosquittoProcess, sqlite_store: Store, root: str
) -> None:
    topics = Topics(root)
    limits = RequestLimits(per_camera=RateLimit(0.01, 1), per_client=RateLimit(0.01, 2))
    options = PublisherOptions(limits=limits, poll_interval_s=0.2)
    publisher = Publisher(
        settings(mosquitto.url, root), sqlite_store, View().republish, answer, options=options
    )
    asks = [
        ("c1", "ws-1"),  # ok
        ("c1", "ws-2"),  # camera c1 used up
        ("c2", "ws-1"),  # ok: ws-1's second token
        ("c3", "ws-1"),  # client ws-1 used up
    ]
    async with (
        Watcher(mosquitto.port, f"{root}/grid/#") as watch,
        running(publisher),
        asker(mosquitto.port, aiomqtt.ProtocolVersion.V311) as client,
    ):
        await asyncio.sleep(0.3)
        for n, (camera, who) in enumerate(asks):
            payload = json.dumps({"action": "snapshot", "id": n, "client": who}).encode()
            await client.publish(topics.request(PATH, camera), payload, qos=1)
        await watch.wait_for(lambda got: len(responses(got)) == len(asks))
    replies = {
        body(g)["id"]: (g.topic, body(g)["ok"], body(g)["error"], g.qos, g.retain)
        for g in responses(watch.got)
    }
    assert replies == {
        "0": (topics.response(PATH, "c1"), True, None, 1, False),
        "1": (topics.response(PATH, "c1"), False, "rate limited", 1, False),
        "2": (topics.response(PATH, "c2"), True, None, 1, False),
        "3": (topics.response(PATH, "c3"), False, "rate limited", 1, False),
    }


async def test_which_response_topics_a_request_may_choose() -> None:
    topics = Topics("gb")
    generous = RequestLimits(per_camera=RateLimit(100, 100), per_client=RateLimit(100, 100))
    responder = Responder(topics, answer, generous)
    ask, default = topics.request(PATH, "c"), topics.response(PATH, "c")
    cases = {
        None: default,
        "": default,
        "ws-1/inbox": "ws-1/inbox",  # the workstation's own tree: the broker ACL decides
        f"{default}/ws-1": f"{default}/ws-1",  # below the camera's response topic
        default: default,
        "gb/bridge/state": default,  # our own tree: never
        "gb/grid/_/_/_/camera/c/status": default,
        "ws/+/inbox": default,
        "$SYS/broker": default,
    }
    for wanted, expected in cases.items():
        reply = await responder.answer(
            ask, b'{"action":"snapshot"}', request_props(wanted, b"c", None)
        )
        assert reply is not None
        assert (wanted, reply.topic, reply.correlation) == (wanted, expected, b"c")
    too_long = request_props(None, b"x" * 1000, None)
    reply = await responder.answer(ask, b'{"action":"snapshot"}', too_long)
    assert reply is not None
    assert reply.correlation is None
    assert await responder.answer("gb/grid/x/status", b"{}", None) is None  # not a request
    assert await Responder(topics, None, generous).answer(ask, b'{"action":"snapshot"}') is None
