"""The publisher against a real Mosquitto on loopback: bridge state and last will, outbox
drain, broker restarts, credentials.  Every delivery is checked on topic, payload, QoS and
retain flag together (`Got`)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.bus.connection import (
    BusConfigError,
)
from bridge.bus.message import Message
from bridge.bus.publisher import Publisher, PublisherOptions
from bridge.bus.topics import Topics
from bridge.settings import Secret
from bridge.store import Store
from tests.bridge.bus.conftest import (
    FAST,
    PATH,
    Got,
    TcpProxy,
    View,
    Watcher,
    eventually,
    running,
    settings,
    state,
    status,
)
from tests.support import MosquittoProcess

# --- connection basics ----------------------------------------------------------------------


async def test_online_retained_then_graceful_close_says_offline(
    mosquitto: MosquittoProcess, sqlite_store: Store, root: str
) -> None:
    topics = Topics(root)
    view = View(status(topics, "c1", "online"))
    publisher = Publisher(settings(mosquitto.url, root), sqlite_store, view.republish, options=FAST)
    async with Watcher(mosquitto.port, f"{root}/#") as watch:
        async with running(publisher):
            await watch.wait_for(lambda got: len(got) >= 2)
            assert publisher.connected
            assert publisher.protocol == "5"
        await watch.wait_for(lambda got: state(topics, b"offline") in got)
    assert watch.got == [
        state(topics, b"online"),
        Got(topics.status(PATH, "c1"), view.messages[topics.status(PATH, "c1")].payload, 1, True),
        state(topics, b"offline"),
    ]
    assert watch.got[0].props == {"ContentType": "text/plain"}
    assert watch.got[1].props == {"ContentType": "application/json"}
    async with Watcher(mosquitto.port, f"{root}/bridge/state") as fresh:  # the retained view
        await fresh.wait_for(lambda got: len(got) == 1)
    assert fresh.got == [state(topics, b"offline")]


async def test_last_will_when_the_connection_is_cut(
    mosquitto: MosquittoProcess, sqlite_store: Store, root: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    topics = Topics(root)
    view = View(status(topics, "c1", "online"))
    async with TcpProxy(mosquitto.port) as proxy:
        publisher = Publisher(settings(proxy.url, root), sqlite_store, view.republish, options=FAST)
        async with running(publisher), Watcher(mosquitto.port, f"{root}/#") as watch:
            await watch.wait_for(lambda got: len(got) >= 2)
            proxy.accepting = False
            proxy.cut()  # no DISCONNECT reaches the broker: it publishes the last will
            await watch.wait_for(lambda got: state(topics, b"offline") in got)
            async with Watcher(mosquitto.port, topics.bridge_state()) as fresh:
                await fresh.wait_for(lambda got: len(got) == 1)
            assert fresh.got == [state(topics, b"offline")]
            proxy.accepting = True  # the publisher reconnects: online again, view re-sent
            await watch.wait_for(lambda got: got.count(state(topics, b"online")) == 2)
            await watch.wait_for(lambda got: len(watch.on(topics.status(PATH, "c1"))) == 2)
            assert view.calls == 2
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) == 1  # one line for the outage, none from paho's socket errors
    assert "connection lost" in loud[0]
    assert any("is back after" in r.getMessage() for r in caplog.records)


async def test_last_will_when_the_process_is_killed(
    mosquitto: MosquittoProcess, root: str, tmp_path: Path
) -> None:
    topics = Topics(root)
    script = tmp_path / "bridge_process.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import asyncio
            from pathlib import Path
            from bridge.bus.publisher import Publisher
            from bridge.secretbox import SecretBox
            from bridge.settings import MqttSettings
            from bridge.store import Store, sqlite_url

            async def nothing():
                return
                yield

            async def main():
                s = MqttSettings(url={mosquitto.url!r}, root={root!r}, client_id="killed")
                url = sqlite_url(Path({str(tmp_path / "db")!r}))
                async with Store(url, SecretBox(SecretBox.generate_key())) as store:
                    await Publisher(s, store, nothing).run()

            asyncio.run(main())
            """
        )
    )
    async with Watcher(mosquitto.port, topics.bridge_state()) as watch:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(script), cwd=Path(__file__).parents[3]
        )
        try:
            await watch.wait_for(lambda got: state(topics, b"online") in got, timeout_s=30)
        finally:
            if process.returncode is None:
                os.kill(process.pid, signal.SIGKILL)
            await process.wait()
        await watch.wait_for(lambda got: state(topics, b"offline") in got)
    assert watch.got == [state(topics, b"online"), state(topics, b"offline")]


async def test_falls_back_to_mqtt_311_when_the_broker_refuses_5(
    mosquitto: MosquittoProcess, sqlite_store: Store, root: str
) -> None:
    topics = Topics(root)
    view = View(status(topics, "c1", "online"))
    async with TcpProxy(mosquitto.port) as proxy:
        proxy.refuse_v5 = True
        publisher = Publisher(settings(proxy.url, root), sqlite_store, view.republish, options=FAST)
        async with Watcher(mosquitto.port, f"{root}/#") as watch, running(publisher):
            await watch.wait_for(lambda got: len(got) >= 2)
            assert publisher.protocol == "3.1.1"
            assert proxy.refused_v5 == 1
        assert watch.got[:2] == [
            state(topics, b"online"),
            Got(
                topics.status(PATH, "c1"), view.messages[topics.status(PATH, "c1")].payload, 1, True
            ),
        ]
        assert watch.got[1].props == {}  # no MQTT 5 properties on 3.1.1


async def test_cancelled_run_says_offline(
    mosquitto: MosquittoProcess, sqlite_store: Store, root: str
) -> None:
    topics = Topics(root)
    publisher = Publisher(
        settings(mosquitto.url, root), sqlite_store, View().republish, options=FAST
    )
    async with Watcher(mosquitto.port, topics.bridge_state()) as watch:
        task = asyncio.create_task(publisher.run())
        await watch.wait_for(lambda got: len(got) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await watch.wait_for(lambda got: len(got) == 2)
    assert watch.got == [state(topics, b"online"), state(topics, b"offline")]


async def test_close_while_the_broker_is_away_is_quick(
    mosquitto: MosquittoProcess, sqlite_store: Store, root: str
) -> None:
    await mosquitto.stop()
    publisher = Publisher(
        settings(mosquitto.url, root), sqlite_store, View().republish, options=FAST
    )
    task = asyncio.create_task(publisher.run())
    await asyncio.sleep(0.5)
    assert not publisher.connected
    async with asyncio.timeout(1.0):
        await publisher.close()
        await task


async def test_bad_url_is_a_config_error_without_the_password(
    sqlite_store: Store, root: str
) -> None:
    # config check refuses other schemes; the publisher refuses what gets past it (a port
    # out of range here), without echoing the password either.
    publisher = Publisher(
        settings("mqtt://u:s3cr3t-pw@127.0.0.1:99999", root), sqlite_store, View().republish
    )
    with pytest.raises(BusConfigError) as caught:
        await publisher.run()
    assert "s3cr3t-pw" not in str(caught.value)
    assert "u:***@" in str(caught.value)


async def test_a_failing_view_is_logged_and_the_outbox_still_drained(
    mosquitto: MosquittoProcess, sqlite_store: Store, root: str, caplog: pytest.LogCaptureFixture
) -> None:
    topics = Topics(root)

    async def broken() -> AsyncIterator[Message]:
        yield status(topics, "v", "online")
        raise RuntimeError("view not readable")

    queued = status(topics, "q", "offline")
    await sqlite_store.enqueue([queued])
    publisher = Publisher(settings(mosquitto.url, root), sqlite_store, broken, options=FAST)
    async with Watcher(mosquitto.port, f"{root}/grid/#") as watch, running(publisher):
        await watch.wait_for(lambda got: len(got) == 2)
    assert watch.got == [
        Got(topics.status(PATH, "v"), status(topics, "v", "online").payload, 1, True),
        Got(queued.topic, queued.payload, 1, True),
    ]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["retained view not re-published: RuntimeError: view not readable"]


# --- the outbox -----------------------------------------------------------------------------


async def test_outbox_drained_in_order_with_coalescing(
    mosquitto: MosquittoProcess, sqlite_store: Store, root: str
) -> None:
    topics = Topics(root)
    a1, b1, a2 = (
        status(topics, "a", "online"),
        status(topics, "b", "online"),
        status(topics, "a", "offline"),
    )
    event1 = Message(f"{root}/workorders/t/w1", b'{"step":"open"}', 1, False)
    event2 = Message(f"{root}/workorders/t/w1", b'{"step":"closed"}', 1, False)
    await sqlite_store.enqueue([a1, b1, a2, event1, event2])
    publisher = Publisher(
        settings(mosquitto.url, root), sqlite_store, View().republish, options=FAST
    )
    async with Watcher(mosquitto.port, f"{root}/#") as watch, running(publisher):
        await watch.wait_for(lambda got: len(got) >= 5)
        await watch.quiet()
        assert watch.got == [
            state(topics, b"online"),
            Got(b1.topic, b1.payload, 1, True),
            Got(a2.topic, a2.payload, 1, True),  # a1 superseded: never published
            Got(event1.topic, event1.payload, 1, False),  # events are never coalesced
            Got(event2.topic, event2.payload, 1, False),
        ]
        assert await sqlite_store.pending(10) == []


async def test_notify_wakes_the_publisher_and_the_poll_finds_other_writers(
    mosquitto: MosquittoProcess, sqlite_store: Store, root: str
) -> None:
    topics = Topics(root)
    slow_poll = PublisherOptions(poll_interval_s=1.0)
    publisher = Publisher(
        settings(mosquitto.url, root), sqlite_store, View().republish, options=slow_poll
    )
    async with Watcher(mosquitto.port, f"{root}/grid/#") as watch, running(publisher):
        await asyncio.sleep(0.3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await sqlite_store.enqueue([status(topics, "n", "offline")])
        publisher.notify()
        await watch.wait_for(lambda got: len(got) == 1)
        assert loop.time() - started < 0.5  # woken, not polled
        await sqlite_store.enqueue([status(topics, "p", "offline")])  # no notify: a CLI
        await watch.wait_for(lambda got: len(got) == 2, timeout_s=3.0)
    assert watch.got == [
        Got(topics.status(PATH, "n"), status(topics, "n", "offline").payload, 1, True),
        Got(topics.status(PATH, "p"), status(topics, "p", "offline").payload, 1, True),
    ]


async def test_graceful_close_flushes_the_outbox_before_offline(
    mosquitto: MosquittoProcess, sqlite_store: Store, root: str
) -> None:
    topics = Topics(root)
    publisher = Publisher(
        settings(mosquitto.url, root), sqlite_store, View().republish, options=FAST
    )
    messages = [status(topics, f"c{n}", "online") for n in range(500)]
    async with Watcher(mosquitto.port, f"{root}/#") as watch:
        async with running(publisher):
            await watch.wait_for(lambda got: len(got) == 1)
            await sqlite_store.enqueue(messages)  # then close at once
        await watch.wait_for(lambda got: state(topics, b"offline") in got)
    assert watch.got == [
        state(topics, b"online"),
        *(Got(m.topic, m.payload, 1, True) for m in messages),
        state(topics, b"offline"),
    ]
    assert await sqlite_store.pending(10) == []


async def test_changes_while_the_broker_is_down_arrive_after_it_restarts(
    mosquitto: MosquittoProcess,
    sqlite_store: Store,
    root: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="bridge.bus")
    topics = Topics(root)
    view = View(status(topics, "c1", "online"), status(topics, "c2", "online"))
    publisher = Publisher(settings(mosquitto.url, root), sqlite_store, view.republish, options=FAST)
    async with running(publisher):
        async with Watcher(mosquitto.port, f"{root}/#") as watch:
            await watch.wait_for(lambda got: len(got) == 3)
        await mosquitto.stop()  # persistence off: the broker forgets every retained message
        await eventually(lambda: not publisher.connected)
        changes = [status(topics, "c1", "offline"), status(topics, "c3", "degraded")]
        for change in changes:  # what the daemon does on a transition
            view.set(change)
        await sqlite_store.enqueue(changes)
        publisher.notify()
        await asyncio.sleep(2.0)  # several reconnect attempts
        await mosquitto.start()
        await eventually(lambda: publisher.connected)
        await eventually(lambda: sqlite_store.pending(10), expect=[])
        await asyncio.sleep(0.3)
        async with Watcher(mosquitto.port, f"{root}/#") as fresh:  # only retained messages
            await fresh.wait_for(lambda got: len(got) == 4)
            await fresh.quiet()
    assert sorted(fresh.got, key=lambda g: g.topic) == sorted(
        [
            state(topics, b"online"),
            Got(topics.status(PATH, "c1"), changes[0].payload, 1, True),
            # c2 never changed, so it was not in the outbox: the re-publish restored it
            Got(
                topics.status(PATH, "c2"), view.messages[topics.status(PATH, "c2")].payload, 1, True
            ),
            Got(topics.status(PATH, "c3"), changes[1].payload, 1, True),
        ],
        key=lambda g: g.topic,
    )
    assert view.calls == 2
    outage = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len([m for m in outage if "connection lost" in m]) == 1
    assert len([m for m in outage if "is back after" in m]) == 1
    assert len([m for m in outage if "unreachable" in m]) == 0  # retries are DEBUG
    assert len([r for r in caplog.records if "still unreachable" in r.getMessage()]) >= 2


async def test_credentials_refused_logged_once_without_the_password(
    tmp_path: Path, sqlite_store: Store, root: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    passwords = tmp_path / "passwd"
    maker = await asyncio.create_subprocess_exec(
        "mosquitto_passwd", "-b", "-c", str(passwords), "bridge", "right-pw"
    )
    assert await maker.wait() == 0
    directory = tmp_path / "auth-broker"
    directory.mkdir()
    broker = MosquittoProcess(directory, f"password_file {passwords}", anonymous=False)
    await broker.start()
    try:
        url = f"mqtt://bridge:wr%40ng-s3cret@127.0.0.1:{broker.port}"
        publisher = Publisher(settings(url, root), sqlite_store, View().republish, options=FAST)
        async with running(publisher):
            await asyncio.sleep(1.0)
            assert not publisher.connected
        good = settings(broker.url, f"{root}x", username="bridge", password=Secret("right-pw"))
        async with running(Publisher(good, sqlite_store, View().republish)) as ok:
            await eventually(lambda: ok.connected)
    finally:
        await broker.stop()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "refused our credentials" in errors[0]
    assert f"mqtt://bridge:***@127.0.0.1:{broker.port}" in errors[0]
    assert "wr@ng-s3cret" not in caplog.text
    assert "wr%40ng-s3cret" not in caplog.text
    assert "right-pw" not in caplog.text
