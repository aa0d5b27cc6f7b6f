"""The suite's own helpers that its parallel runs rely on (`tests.support`)."""

from __future__ import annotations

import itertools

import pytest

from tests.support import worker, worker_octets


def octets(monkeypatch: pytest.MonkeyPatch, index: int, count: int, start: int) -> set[int]:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw{index}")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(count))
    assert worker() == (index, count)
    return set(itertools.islice(worker_octets(start), 1000))


@pytest.mark.parametrize("count", [1, 2, 3, 8])
def test_each_worker_has_third_octets_of_its_own(
    monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    seen: set[int] = set()
    for index in range(count):
        mine = octets(monkeypatch, index, count, start=index * 7919)
        assert mine <= set(range(1, 251))  # a valid, non-zero third octet
        assert len(mine) == 250 // count  # it cycles through its whole share
        assert not mine & seen  # nobody else's
        seen |= mine


def test_one_process_is_worker_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    assert worker() == (0, 1)
