"""Validation of faults mappings: every problem reported, nothing half-applied."""

from __future__ import annotations

import pytest

from bridge.simulator import KINDS, FaultError, parse_faults
from bridge.simulator.faults import PICTURE_KINDS

IDS = {"A", "B"}


def test_strings_and_objects_with_defaults_filled_in() -> None:
    faults = parse_faults({"A": "slow", "B": {"kind": "huge_body", "mb": 2}}, IDS)
    assert faults["A"].kind == "slow"
    assert faults["A"].param("latency_ms") == 2000
    assert faults["B"].to_json() == {"kind": "huge_body", "mb": 2}


@pytest.mark.parametrize(
    ("kind", "param", "default"),
    [("slow", "latency_ms", 2000), ("huge_body", "mb", 100), ("clock_drift", "offset_s", 300),
     ("flapping", "period_s", 60)],
)  # fmt: skip
def test_documented_defaults(kind: str, param: str, default: float) -> None:
    assert parse_faults({"A": kind}, IDS)["A"].param(param) == default


def test_every_problem_is_listed_at_once() -> None:
    body = {
        "nope": "down",
        "A": {"kind": "slow", "latency_ms": -5, "colour": 1},
        "B": "exploded",
    }
    with pytest.raises(FaultError) as caught:
        parse_faults(body, IDS)
    message = str(caught.value)
    assert "'nope': no such camera" in message
    assert "slow.latency_ms must be a number" in message
    assert "no parameter 'colour'" in message
    assert "unknown kind 'exploded'" in message
    for kind in KINDS:
        assert kind in message  # the known kinds are listed


def test_picture_faults_are_kinds_with_a_bounded_strength() -> None:
    from bridge.simulator import pictures  # OpenCV: only where pictures are made

    assert set(PICTURE_KINDS) == set(pictures.PICTURE_KINDS)
    assert set(PICTURE_KINDS) | {"night_ir"} <= set(KINDS)
    faults = parse_faults({"A": "blur", "B": {"kind": "noise", "strength": 0.3}}, IDS)
    assert faults["A"].param("strength") == 1.0
    assert faults["B"].to_json() == {"kind": "noise", "strength": 0.3}
    with pytest.raises(FaultError, match=r"blur.strength must be a number in \[0.1, 1.0\]"):
        parse_faults({"A": {"kind": "blur", "strength": 0}}, IDS)
    with pytest.raises(FaultError, match="frozen has no parameter 'strength'"):
        parse_faults({"A": {"kind": "frozen", "strength": 0.5}}, IDS)


@pytest.mark.parametrize("body", [[], "down", None, {"A": 3}, {"A": {"latency_ms": 5}}])
def test_malformed_bodies(body: object) -> None:
    with pytest.raises(FaultError):
        parse_faults(body, IDS)


def test_booleans_are_not_numbers() -> None:
    with pytest.raises(FaultError, match="mb must be a number"):
        parse_faults({"A": {"kind": "huge_body", "mb": True}}, IDS)
