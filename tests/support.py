"""Helpers shared by the tests' conftest files (importable: pytest puts the repo on the path)."""

from __future__ import annotations

import asyncio
import getpass
import itertools
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest


def peer_missing(reason: str) -> NoReturn:
    """Skip the test, or fail it under ``CI=true``: the project's rule for real peers
    (Mosquitto, an RTSP server, PostgreSQL, ipycam) is that CI never skips them."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: tests needing a real peer fail instead of skipping)")
    pytest.skip(reason)


# --- loopback addresses of their own per test worker ---------------------------------------
# The suite runs in parallel (pytest-xdist, scripts/test).  The simulated cameras listen on
# fixed high ports of their own 127.x.y.z addresses, so tests running at the same time on two
# workers must never use the same address: each worker has its own third octets.


def worker() -> tuple[int, int]:
    """This pytest-xdist worker's index and the number of workers; ``(0, 1)`` when the
    tests run in one process."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    return int(name.removeprefix("gw") or 0), max(count, 1)


WORKER = worker()[0]
"""This worker's index: the third octet of the addresses a test with fixed addresses uses
(``127.43.{WORKER}.n``)."""


def worker_octets(start: int) -> Iterator[int]:
    """Endless third octets (1…250) that no other worker hands out: this worker's share of
    1…250, cycling, beginning ``start`` places in (a fresh octet per test; a slow close of
    one test's sockets never meets the next test)."""
    index, count = worker()
    share = max(250 // count, 1)
    first = index * share % 250 + 1
    return (first + (start + i) % share for i in itertools.count())


# --- a real Mosquitto on loopback (bus tests) ---------------------------------------------

MOSQUITTO = "/usr/sbin/mosquitto"


class MosquittoProcess:
    """A Mosquitto broker of its own for one test: ``listener PORT 127.0.0.1``, anonymous
    clients allowed unless ``anonymous=False`` (then give ``password_file …`` in
    ``extra_config``), persistence off like the deployment (a restart forgets retained
    messages).

    ``await start()`` launches it and returns once it accepts TCP connections (the first
    start picks a free port; later starts reuse it, so clients reconnect to the same URL);
    ``await stop()`` ends it (SIGTERM, SIGKILL after 5 s).  Its log is ``directory/
    mosquitto.log``.  Calls `peer_missing` when the binary is not installed.
    """

    def __init__(
        self,
        directory: Path,
        extra_config: str = "",
        binary: str = MOSQUITTO,
        *,
        anonymous: bool = True,
    ) -> None:
        self.directory = directory
        self.extra_config = extra_config
        self.anonymous = anonymous
        self.binary = binary
        self.port = 0
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def log_text(self) -> str:
        path = self.directory / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _write_config(self, port: int) -> Path:
        if not Path(self.binary).exists():
            peer_missing(f"Mosquitto not installed ({self.binary}); apt-get install mosquitto")
        config = self.directory / "mosquitto.conf"
        config.write_text(
            f"listener {port} 127.0.0.1\n"
            f"allow_anonymous {'true' if self.anonymous else 'false'}\npersistence false\n"
            # started as root, Mosquitto would switch to user "mosquitto", which cannot
            # read password or ACL files under the test's private tmp_path
            f"user {getpass.getuser()}\n"
            f"{self.extra_config}\n"
        )
        return config

    async def start(self, timeout_s: float = 5.0) -> None:
        if self.running:
            return
        for _ in range(5):  # a free port can be taken between probing and binding
            port = self.port or free_port()
            config = self._write_config(port)
            log_file = os.open(
                self.directory / "mosquitto.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND
            )
            try:
                self._process = await asyncio.create_subprocess_exec(
                    self.binary,
                    "-c",
                    str(config),
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            finally:
                os.close(log_file)
            if await self._accepting(port, timeout_s):
                self.port = port
                return
            await self.stop()
            if self.port:  # a restart on a fixed port must not move
                break
        raise RuntimeError(f"Mosquitto did not start; its log:\n{self.log_text[-2000:]}")

    async def _accepting(self, port: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.running:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1.0)
            except (OSError, TimeoutError):
                await asyncio.sleep(0.02)
                continue
            writer.close()
            return True
        return False

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5.0)
        except TimeoutError:
            process.kill()
            await asyncio.wait_for(process.wait(), 5.0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
