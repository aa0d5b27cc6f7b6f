"""The verdict of one observation (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.model import CameraState
from bridge.observation import DeviceInfo, LayerResult, Observation, SdpInfo
from health.verdict import CameraHealth, VerdictRules, judge, with_picture

AT = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
OK = LayerResult(ok=True, latency_ms=2.0)
VIDEO = SdpInfo(has_video=True, codec="H264", media_count=1)
RULES = VerdictRules(clock_drift_s=10)


def fail(error: str, detail: str = "") -> LayerResult:
    return LayerResult(ok=False, error=error, detail=detail)


def obs(**layers: object) -> Observation:
    return Observation("41990100011326000001", AT, **layers)  # type: ignore[arg-type]


def test_all_good_is_online() -> None:
    health = judge(obs(rtsp=OK, sdp=VIDEO, onvif_time=OK, clock_offset_s=1.0), RULES)
    assert (health.state, health.faults) == (CameraState.ONLINE, ())


@pytest.mark.parametrize("error", ["unreachable", "timeout"])
def test_no_answer_anywhere_is_offline_unreachable(error: str) -> None:
    health = judge(obs(rtsp=fail(error, "refused"), onvif_time=fail("unreachable")), RULES)
    assert (health.state, health.faults) == (CameraState.OFFLINE, ("unreachable",))
    assert "refused" in health.summary


def test_rtsp_down_but_onvif_answers_is_degraded_rtsp_error() -> None:
    health = judge(obs(rtsp=fail("unreachable"), onvif_time=OK), RULES)
    assert (health.state, health.faults) == (CameraState.DEGRADED, ("rtsp_error",))


@pytest.mark.parametrize(
    ("rtsp", "sdp", "fault"),
    [
        (fail("protocol", "DESCRIBE answered 500"), None, "rtsp_error"),
        (OK, SdpInfo(has_video=False, media_count=1), "rtsp_error"),
        (fail("auth_failed"), None, "auth_failed"),
    ],
)
def test_rtsp_faults(rtsp: LayerResult, sdp: SdpInfo | None, fault: str) -> None:
    health = judge(obs(rtsp=rtsp, sdp=sdp, onvif_time=OK), RULES)
    assert (health.state, health.faults) == (CameraState.DEGRADED, (fault,))


def test_onvif_faults() -> None:
    health = judge(obs(rtsp=OK, sdp=VIDEO, onvif_time=fail("protocol", "SOAP fault")), RULES)
    assert health.faults == ("onvif_error",)
    health = judge(obs(rtsp=OK, sdp=VIDEO, onvif_time=OK, onvif_auth=fail("auth_failed")), RULES)
    assert health.faults == ("auth_failed",)


def test_clock_drift_threshold() -> None:
    assert judge(obs(rtsp=OK, sdp=VIDEO, onvif_time=OK, clock_offset_s=-10.0), RULES).faults == ()
    health = judge(obs(rtsp=OK, sdp=VIDEO, onvif_time=OK, clock_offset_s=-300.0), RULES)
    assert (health.state, health.faults) == (CameraState.DEGRADED, ("clock_drift",))
    assert "-300 s" in health.summary


def test_replaced_when_serial_differs() -> None:
    device = DeviceInfo(serial="DS-NEW")
    base = {"rtsp": OK, "sdp": VIDEO, "onvif_auth": OK, "device": device}
    assert judge(obs(**base, expected_serial="DS-NEW"), RULES).faults == ()
    assert judge(obs(**base, expected_serial=None), RULES).faults == ()
    assert judge(obs(**base, expected_serial="DS-OLD"), RULES).faults == ("replaced",)


def test_faults_are_listed_most_telling_first() -> None:
    health = judge(
        obs(rtsp=fail("auth_failed"), onvif_time=OK, clock_offset_s=99.0,
            device=DeviceInfo(serial="B"), expected_serial="A", onvif_auth=OK),
        RULES,
    )  # fmt: skip
    assert health.faults == ("auth_failed", "clock_drift", "replaced")


def test_tcp_only_camera() -> None:
    assert judge(obs(rtsp_tcp=OK), RULES).state is CameraState.ONLINE
    health = judge(obs(rtsp_tcp=fail("timeout")), RULES)
    assert health.state is CameraState.OFFLINE


def test_no_layer_is_a_bug() -> None:
    with pytest.raises(ValueError, match="no check layer"):
        judge(obs(), RULES)


def test_hung_camera_accepting_tcp_is_offline_and_says_so() -> None:
    health = judge(
        obs(rtsp_tcp=OK, onvif_tcp=OK, rtsp=fail("timeout"), onvif_time=fail("timeout")), RULES
    )
    assert (health.state, health.faults) == (CameraState.OFFLINE, ("unreachable",))
    assert "accept connections" in health.summary


def test_picture_faults_make_an_answering_camera_degraded() -> None:
    ok = CameraHealth(CameraState.ONLINE, (), "ok")
    assert with_picture(ok, ()) is ok
    merged = with_picture(ok, ("blur", "black"))
    assert merged.state is CameraState.DEGRADED
    assert merged.faults == ("black", "blur")
    assert merged.summary == "picture: black, blur"
    drift = CameraHealth(CameraState.DEGRADED, ("clock_drift",), "clock off by +300 s")
    both = with_picture(drift, ("frozen",))
    assert both.faults == ("frozen", "clock_drift")
    assert both.summary == "clock off by +300 s; picture: frozen"
    down = CameraHealth(CameraState.OFFLINE, ("unreachable",), "no answer")
    assert with_picture(down, ("black",)) is down
