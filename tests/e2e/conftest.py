"""Fixtures of the end-to-end tests: a Mosquitto of their own on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import MosquittoProcess


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[MosquittoProcess]:
    mosquitto = MosquittoProcess(tmp_path / "broker", "max_queued_messages 100000\n")
    (tmp_path / "broker").mkdir()
    await mosquitto.start()
    yield mosquitto
    await mosquitto.stop()
