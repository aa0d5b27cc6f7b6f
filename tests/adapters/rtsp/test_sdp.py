"""parse_sdp: what real cameras and servers send, and what hostile ones might."""

from __future__ import annotations

import base64

import pytest

from adapters.errors import ProtocolFailure
from adapters.sdp import h264_sps_size, parse_sdp
from bridge.observation import SdpInfo

# DESCRIBE reply body of Debian's GStreamer RTSP server 1.22 (tests/peers), verbatim.
GSTREAMER_SDP = """v=0
o=- 3350166042960263127 1 IN IP4 127.0.0.1
s=Session streamed with GStreamer
i=rtsp-server
t=0 0
a=tool:GStreamer
a=type:broadcast
a=control:*
a=range:npt=now-
m=video 0 RTP/AVP 96
c=IN IP4 0.0.0.0
b=AS:2097
a=rtpmap:96 H264/90000
a=framerate:10
a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0LAFtoCgL/lwFqDAwNSgAAAAwCAAAAKR4sXUA==,\
aM48gA==;profile-level-id=42c016;level-asymmetry-allowed=1
a=control:stream=0
""".replace("\n", "\r\n")

# Example 1 of Axis's VIDEO STREAMING API (DESCRIBE, resolution=640x480), size only in the SPS.
AXIS_SDP = """v=0
o=- 1216212527554872 1216212527554872 IN IP4 myserver
s=Media Presentation
e=NONE
c=IN IP4 0.0.0.0
b=AS:50064
t=0 0
a=control:rtsp://myserver/axis-media/media.amp?videocodec=h264&resolution=640x480
a=range:npt=0.000000-
m=video 0 RTP/AVP 96
b=AS:50000
a=framerate:30.0
a=transform:1,0,0;0,1,0;0,0,1
a=rtpmap:96 H264/90000
a=fmtp:96 packetization-mode=1; profile-level-id=420029; \
sprop-parameter-sets=Z0IAKeKQFAe2AtwEBAaQeJEV,aM48gA==
m=audio 0 RTP/AVP 97
b=AS:64
a=rtpmap:97 mpeg4-generic/16000/1
"""

# Shape of Hikvision's MPEG-4 DESCRIBE example (HIKVISION RTSP IPMD V1.0).
HIKVISION_MPEG4_SDP = """v=0
o=- 1109162014219182 1109162014219192 IN IP4 x.y.z.w
s=Media Presentation
e=NONE
c=IN IP4 0.0.0.0
t=0 0
a=control:*
m=video 0 RTP/AVP 96
a=rtpmap:96 MP4V-ES/90000
a=fmtp:96 profile-level-id=8;config=000001B0F5000001B50900000100000001200886C400670CA0116851;
a=x-dimensions:704,576
"""


def test_gstreamer_sdp_gives_codec_size_from_sps_and_fps() -> None:
    assert parse_sdp(GSTREAMER_SDP) == SdpInfo(
        has_video=True, codec="H264", width=640, height=360, fps=10.0, media_count=1
    )


def test_axis_sdp_size_from_sps_fps_and_audio_counted() -> None:
    assert parse_sdp(AXIS_SDP) == SdpInfo(
        has_video=True, codec="H264", width=640, height=480, fps=30.0, media_count=2
    )


def test_hikvision_mpeg4_with_x_dimensions() -> None:
    info = parse_sdp(HIKVISION_MPEG4_SDP)
    assert (info.codec, info.width, info.height, info.fps) == ("MP4V-ES", 704, 576, None)


@pytest.mark.parametrize(
    ("sps", "size"),
    [
        # x264 via GStreamer 1.22: High 1080p (cropped from 1088), Main 720p, Baseline D1,
        # High 4:4:4 with 4:2:0 and with 4:4:4 input; Axis; GStreamer's test server.
        ("Z2QAKKzZQHgCJ+XAWoCAgKAAAAMAIAAABlHjBjLA", (1920, 1080)),
        ("Z01AH+ygKALdgLUBAQFAAAADAEAAAAyjxgxlgA==", (1280, 720)),
        ("Z0LAHtkAsBJsBSgwMDUoAAADAAgAAAMBlHixckA=", (704, 576)),
        ("Z/QAMpDZsoBQAWtgLUBAQFAAAAMAEAAAAwMo8YMZYA==", (2560, 1440)),
        ("Z/QAMpGbKAUAFrYC1AQEBQAAAwABAAADADKPGDGW", (2560, 1440)),
        ("Z0IAKeKQFAe2AtwEBAaQeJEV", (640, 480)),
        ("Z0LAFtoCgL/lwFqDAwNSgAAAAwCAAAAKR4sXUA==", (640, 360)),
    ],
)
def test_h264_sps_size(sps: str, size: tuple[int, int]) -> None:
    assert h264_sps_size(base64.b64decode(sps)) == size


def test_damaged_sps_gives_no_size_never_an_error() -> None:
    sps = base64.b64decode("Z2QAKKzZQHgCJ+XAWoCAgKAAAAMAIAAABlHjBjLA")
    for cut in range(len(sps)):
        h264_sps_size(sps[:cut])  # no exception, whatever it returns
    assert h264_sps_size(sps[:6]) is None
    assert h264_sps_size(b"\x67" + b"\x00" * 40) is None  # endless exp-Golomb zeros
    sdp = "v=0\nm=video 0 RTP/AVP 96\na=rtpmap:96 H264/90000\n"
    for sprop in ("!!!", "Z2QAKK", "aM48gA==", "", ",,,"):
        info = parse_sdp(sdp + f"a=fmtp:96 sprop-parameter-sets={sprop}\n")
        assert (info.codec, info.width, info.height) == ("H264", None, None)


def test_lf_only_junk_lines_and_whitespace_are_tolerated() -> None:
    text = (
        "\n\n  v=0  \njunk without equals\n=\nx\n\x00\x01garbage\n"
        "m=video 0 RTP/AVP 96\n  a=rtpmap:96 h264/90000  \n"
        "a=framerate:not-a-number\na=framerate:25\n"
    )
    assert parse_sdp(text) == SdpInfo(has_video=True, codec="H264", fps=25.0, media_count=1)


@pytest.mark.parametrize(
    ("attribute", "size"),
    [
        ("a=x-dimensions:1920,1080", (1920, 1080)),
        ("a=x-dimensions: 1280 , 720 ", (1280, 720)),
        ("a=framesize:96 704-576", (704, 576)),
        ("a=cliprect:0,0,1080,1920", (1920, 1080)),
        ("a=x-dimensions:0,0", None),
        ("a=x-dimensions:99999999,1", None),
        ("a=cliprect:1080,1920,0,0", None),
        ("a=framesize:97 704-576", None),  # another payload type's size
    ],
)
def test_size_attributes(attribute: str, size: tuple[int, int] | None) -> None:
    info = parse_sdp(f"v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n{attribute}\r\n")
    assert (info.width, info.height) == (size or (None, None))


@pytest.mark.parametrize(
    ("lines", "codec"),
    [
        ("m=video 0 RTP/AVP 96\na=rtpmap:96 H265/90000", "H265"),
        ("m=video 0 RTP/AVP 96\na=rtpmap:96 HEVC/90000", "H265"),
        ("m=video 0 RTP/AVP 26", "JPEG"),  # static payload type, no rtpmap
        ("m=video 0 RTP/AVP 98 96\na=rtpmap:96 H264/90000\na=rtpmap:98 H265/90000", "H265"),
        ("m=video 0 RTP/AVP 96", None),
        ("m=video 0 RTP/AVP 96\na=rtpmap:96 /90000", None),
    ],
)
def test_codec(lines: str, codec: str | None) -> None:
    assert parse_sdp(f"v=0\n{lines}\n").codec == codec


def test_attributes_of_other_sections_are_not_mixed_in() -> None:
    text = (
        "v=0\na=framerate:12\n"
        "m=audio 0 RTP/AVP 96\na=rtpmap:96 MPEG4-GENERIC/16000\na=x-dimensions:1,1\n"
        "m=video 0 RTP/AVP 96\na=rtpmap:96 H264/90000\n"
        "m=video 0 RTP/AVP 97\na=rtpmap:97 JPEG/90000\na=x-dimensions:640,480\n"
    )
    info = parse_sdp(text)
    # the first video section; session-level framerate as fallback
    assert info == SdpInfo(has_video=True, codec="H264", fps=12.0, media_count=3)


@pytest.mark.parametrize("fps", ["0", "-5", "nan", "inf", "1e9", ""])
def test_implausible_frame_rates_are_ignored(fps: str) -> None:
    assert parse_sdp(f"v=0\nm=video 0 RTP/AVP 26\na=x-framerate:{fps}\n").fps is None


def test_x_framerate() -> None:
    assert parse_sdp("v=0\nm=video 0 RTP/AVP 26\na=x-framerate:12.5\n").fps == 12.5


def test_no_video_track_is_a_fact_not_an_error() -> None:
    info = parse_sdp("v=0\r\ns=-\r\nm=audio 0 RTP/AVP 0\r\nm=application 0 RTP/AVP 107\r\n")
    assert info == SdpInfo(has_video=False, media_count=2)
    assert parse_sdp("v=0\r\n") == SdpInfo(has_video=False, media_count=0)


def test_media_section_cap() -> None:
    text = "v=0\n" + "m=audio 0 RTP/AVP 0\n" * 32
    assert parse_sdp(text).media_count == 32
    with pytest.raises(ProtocolFailure, match="more than 32 media"):
        parse_sdp(text + "m=video 0 RTP/AVP 96\n")
    with pytest.raises(ProtocolFailure, match="more than 2 media"):
        parse_sdp("v=0\n" + "m=audio 0 RTP/AVP 0\n" * 3, max_media=2)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<html><body>Login</body></html>",
        "m=video 0 RTP/AVP 96\nv=0\n",  # v= must come before the media
        "\x00" * 100,
    ],
)
def test_text_that_is_not_sdp_is_a_protocol_failure(text: str) -> None:
    with pytest.raises(ProtocolFailure, match="not SDP"):
        parse_sdp(text)
