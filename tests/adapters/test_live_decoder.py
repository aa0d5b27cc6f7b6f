"""The live decoder's pure parts: picture sizes and the DESCRIBE target of a stream URL.
(The decoder itself runs against the simulator in tests/bridge/test_live.py.)"""

from __future__ import annotations

import pytest

from adapters.live_decoder import fit_size
from adapters.rtsp_grab import rtsp_target


@pytest.mark.parametrize(
    ("size", "max_side", "fitted"),
    [
        ((1920, 1080), 640, (640, 360)),
        ((1280, 720), 320, (320, 180)),
        ((2560, 1440), 640, (640, 360)),
        ((704, 576), 640, (640, 524)),  # D1 PAL, 4:3-ish: 576 * 640 / 704 = 523.6
        ((1080, 1920), 640, (360, 640)),  # an upright (corridor mode) stream: height bound
        ((640, 360), 640, (640, 360)),  # fits: unchanged
        ((352, 288), 640, (352, 288)),  # smaller: never enlarged
        ((4000, 1), 160, (160, 1)),  # at least one pixel each way
    ],
)
def test_fit_size(size: tuple[int, int], max_side: int, fitted: tuple[int, int]) -> None:
    assert fit_size(*size, max_side) == fitted


def test_rtsp_target_keeps_raw_credentials_out_of_the_path() -> None:
    target = rtsp_target("rtsp://admin:Dh#20@20pw@10.0.0.7:8554/cam/realmonitor?channel=1")
    assert target is not None
    assert (target.host, target.port, target.path) == (
        "10.0.0.7",
        8554,
        "/cam/realmonitor?channel=1",
    )
    assert (target.username, target.password) == ("admin", "Dh#20@20pw")
    assert "Dh#20" not in repr(target)


def test_rtsp_target_refuses_what_is_not_rtsp() -> None:
    assert rtsp_target("http://10.0.0.7/x") is None
    assert rtsp_target("rtsp://10.0.0.7:99999/x") is None
    default = rtsp_target("rtsp://[::1]/live")
    assert default is not None
    assert (default.host, default.port) == ("::1", 554)
