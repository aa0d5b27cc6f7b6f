"""Parse the SDP of an RTSP DESCRIBE reply into :class:`bridge.observation.SdpInfo`.

Pure: no I/O.  The SDP comes from an untrusted camera, so the parser is tolerant of what
cameras really send (LF or CRLF, blank or junk lines, attributes in odd places) and strict
only where it protects us: a text that is not SDP at all, or more ``m=`` lines than
``max_media``, is a :class:`adapters.errors.ProtocolFailure`.  The caller caps the size of
the text (DESIGN §12: SDP 64 KiB).

What it reads, from the first ``m=video`` section (session-level attributes as fallback):

* codec: ``a=rtpmap:<pt> <name>/<clock>`` for the section's first payload type, else the
  static payload type (26 JPEG, 32 MPV, 34 H263); ``HEVC`` is reported as ``H265``;
* size: ``a=x-dimensions:W,H``, ``a=framesize:<pt> W-H``, ``a=cliprect:T,L,B,R``, else the
  H.264 SPS in ``sprop-parameter-sets`` (best effort: a damaged SPS gives no size);
* frame rate: ``a=framerate:F`` or ``a=x-framerate:F`` (0 < F ≤ 1000, else ignored).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re

from adapters.errors import ProtocolFailure
from bridge.observation import SdpInfo

_STATIC_VIDEO_PT = {"26": "JPEG", "31": "H261", "32": "MPV", "34": "H263"}
_CODEC_ALIASES = {"HEVC": "H265"}
_MAX_DIMENSION = 65_535
_MAX_FPS = 1000.0
_MAX_SPS_BYTES = 256
_DIMENSIONS = re.compile(r"\s*(\d{1,6})\s*[,x\-]\s*(\d{1,6})\s*$")
_CLIPRECT = re.compile(r"\s*(\d{1,6}),(\d{1,6}),(\d{1,6}),(\d{1,6})\s*$")
_SPROP = re.compile(r"sprop-parameter-sets\s*=\s*([A-Za-z0-9+/=,]+)", re.IGNORECASE)


def parse_sdp(text: str, *, max_media: int = 32) -> SdpInfo:
    """Return what ``text`` says about the video; never raises except ``ProtocolFailure``.

    ``ProtocolFailure`` when the text has no ``v=`` line before its first ``m=`` line (not
    SDP), or more than ``max_media`` ``m=`` lines.  A valid SDP without video is
    ``SdpInfo(has_video=False, media_count=…)``: judging that is the verdict's job.
    """
    session: dict[str, list[str]] = {}
    video: dict[str, list[str]] | None = None
    video_formats: list[str] = []
    section: dict[str, list[str]] | None = session
    seen_version = False
    media_count = 0
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue  # blank or junk line
        kind, value = line[0], line[2:]
        if kind == "m":
            media_count += 1
            if media_count > max_media:
                raise ProtocolFailure(f"SDP has more than {max_media} media sections")
            if not seen_version:
                raise ProtocolFailure("reply body is not SDP (no v= line before m=)")
            fields = value.split()
            if video is None and fields and fields[0].lower() == "video":
                section = {}
                video, video_formats = section, fields[3:]
            else:
                section = None  # attributes of other media sections are not read
        elif kind == "v":
            seen_version = True
        elif kind == "a" and section is not None:
            name, _, attr_value = value.partition(":")
            section.setdefault(name.lower(), []).append(attr_value)
    if not seen_version:
        raise ProtocolFailure("reply body is not SDP (no v= line)")
    if video is None:
        return SdpInfo(has_video=False, media_count=media_count)
    payload_type = video_formats[0] if video_formats else None
    size = _size(video, payload_type)
    fps = _fps(video) or _fps(session)
    return SdpInfo(
        has_video=True,
        codec=_codec(video, payload_type),
        width=size[0] if size else None,
        height=size[1] if size else None,
        fps=fps,
        media_count=media_count,
    )


def _codec(attrs: dict[str, list[str]], payload_type: str | None) -> str | None:
    """Encoding name of ``payload_type`` from its rtpmap, else the static assignment."""
    for value in attrs.get("rtpmap", ()):
        pt, _, encoding = value.strip().partition(" ")
        if payload_type is None or pt == payload_type:
            name = encoding.strip().partition("/")[0].upper()
            if name:
                return _CODEC_ALIASES.get(name, name)
    return _STATIC_VIDEO_PT.get(payload_type or "")


def _size(attrs: dict[str, list[str]], payload_type: str | None) -> tuple[int, int] | None:
    """(width, height) from the first attribute that gives a plausible one."""
    for value in attrs.get("x-dimensions", ()):
        if size := _plausible(_DIMENSIONS.match(value)):
            return size
    for value in attrs.get("framesize", ()):  # a=framesize:96 1920-1080
        pt, _, dims = value.strip().partition(" ")
        if (payload_type is None or pt == payload_type) and (
            size := _plausible(_DIMENSIONS.match(dims))
        ):
            return size
    for value in attrs.get("cliprect", ()):  # top,left,bottom,right
        if m := _CLIPRECT.match(value):
            top, left, bottom, right = (int(g) for g in m.groups())
            if size := _checked(right - left, bottom - top):
                return size
    for value in attrs.get("fmtp", ()):
        if (m := _SPROP.search(value)) and (size := _sprop_size(m.group(1))):
            return size
    return None


@functools.lru_cache(maxsize=1024)
def _sprop_size(sets: str) -> tuple[int, int] | None:
    """Size from the SPS in a sprop-parameter-sets value.  Cached: a fleet repeats a few
    SPSs (same models, same settings), and decoding one bit by bit is most of the cost of
    parse_sdp.  Bounded, so a camera changing its SPS every time only churns the cache."""
    sps = _first_sps(sets)
    return h264_sps_size(sps) if sps is not None else None


def _plausible(m: re.Match[str] | None) -> tuple[int, int] | None:
    return _checked(int(m.group(1)), int(m.group(2))) if m else None


def _checked(width: int, height: int) -> tuple[int, int] | None:
    if 0 < width <= _MAX_DIMENSION and 0 < height <= _MAX_DIMENSION:
        return width, height
    return None


def _fps(attrs: dict[str, list[str]]) -> float | None:
    for name in ("framerate", "x-framerate"):
        for value in attrs.get(name, ()):
            try:
                fps = float(value.strip())
            except ValueError:
                continue
            if 0.0 < fps <= _MAX_FPS:  # also rejects nan
                return fps
    return None


def _first_sps(sets: str) -> bytes | None:
    """The first base64 parameter set whose NAL type is 7 (SPS), or None."""
    for item in sets.split(","):
        if not item or len(item) > _MAX_SPS_BYTES * 2:
            continue
        try:
            nal = base64.b64decode(item + "=" * (-len(item) % 4))
        except (binascii.Error, ValueError):
            continue
        if nal and nal[0] & 0x1F == 7:
            return nal
    return None


class _Bits:
    """MSB-first bit reader over an RBSP; reading past the end raises IndexError."""

    __slots__ = ("_pos", "_total", "_value")

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._total = len(data) * 8
        self._pos = 0

    def u(self, n: int) -> int:
        if self._pos + n > self._total:
            raise IndexError("SPS truncated")
        self._pos += n
        return (self._value >> (self._total - self._pos)) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise IndexError("exp-Golomb code too long")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


def h264_sps_size(nal: bytes) -> tuple[int, int] | None:
    """Cropped (width, height) from an H.264 SPS NAL unit (ITU-T H.264 §7.3.2.1.1), or None.

    Best effort over untrusted bytes: a truncated or nonsensical SPS gives None.
    """
    rbsp = nal[1 : _MAX_SPS_BYTES + 1].replace(b"\x00\x00\x03", b"\x00\x00")
    bits = _Bits(rbsp)
    try:
        profile = bits.u(8)
        bits.u(16)  # constraint flags, level_idc
        bits.ue()  # seq_parameter_set_id
        chroma_format, separate_planes = 1, 0
        if profile in _HIGH_PROFILES:
            chroma_format = bits.ue()
            if chroma_format == 3:
                separate_planes = bits.u(1)
            bits.ue()  # bit_depth_luma_minus8
            bits.ue()  # bit_depth_chroma_minus8
            bits.u(1)  # qpprime_y_zero_transform_bypass_flag
            if bits.u(1):  # seq_scaling_matrix_present_flag
                for i in range(12 if chroma_format == 3 else 8):
                    if bits.u(1):
                        _skip_scaling_list(bits, 16 if i < 6 else 64)
        bits.ue()  # log2_max_frame_num_minus4
        poc_type = bits.ue()
        if poc_type == 0:
            bits.ue()
        elif poc_type == 1:
            bits.u(1)
            bits.se()
            bits.se()
            for _ in range(min(bits.ue(), 255)):
                bits.se()
        bits.ue()  # max_num_ref_frames
        bits.u(1)  # gaps_in_frame_num_value_allowed_flag
        width_mbs = bits.ue() + 1
        height_units = bits.ue() + 1
        frame_mbs_only = bits.u(1)
        if not frame_mbs_only:
            bits.u(1)  # mb_adaptive_frame_field_flag
        bits.u(1)  # direct_8x8_inference_flag
        crop = (bits.ue(), bits.ue(), bits.ue(), bits.ue()) if bits.u(1) else (0, 0, 0, 0)
    except IndexError:
        return None
    if separate_planes or chroma_format == 0:
        unit_x, unit_y = 1, 2 - frame_mbs_only
    else:
        unit_x = 2 if chroma_format in (1, 2) else 1
        unit_y = (2 if chroma_format == 1 else 1) * (2 - frame_mbs_only)
    width = width_mbs * 16 - unit_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * height_units * 16 - unit_y * (crop[2] + crop[3])
    return _checked(width, height)


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last, following = 8, 8
    for _ in range(size):
        if following:
            following = (last + bits.se() + 256) % 256
        last = following or last
