"""Helpers shared by the tests' conftest files (importable: pytest puts the repo on the path)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def peer_missing(reason: str) -> NoReturn:
    """Skip the test, or fail it under ``CI=true``: the project's rule for real peers
    (Mosquitto, an RTSP server, PostgreSQL, ipycam) is that CI never skips them."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: tests needing a real peer fail instead of skipping)")
    pytest.skip(reason)
