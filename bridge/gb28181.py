"""GB/T 28181 device IDs: parse and explain the 20-digit code.

Pure: no I/O.  Layout (GB/T 28181-2016 appendix D, unchanged in 2022)::

    41990100 01 132 6 000001
    │        │  │   │ └ serial (6)
    │        │  │   └ network (1): 0–4 video private net, 5 police net, 6 government net,
    │        │  │                  7 Internet, 8 social resources, 9 reserved
    │        │  └ type (3): 111–130 front-end main devices, 131–199 peripherals
    │        │              (131 camera, 132 IPC), 200–299 platform devices …
    │        └ industry (2)
    └ centre (8): 行政区划 code of the centre the device belongs to
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Type codes of GB/T 28181-2016 appendix D; 120–125 and 138–143 were added in 2022.
TYPE_NAMES: dict[str, str] = {
    "111": "DVR",
    "112": "视频服务器",
    "113": "编码器",
    "114": "解码器",
    "115": "视频切换矩阵",
    "116": "音频切换矩阵",
    "117": "报警控制器",
    "118": "NVR",
    "120": "在线视频图像信息采集系统",
    "121": "视频卡口",
    "122": "多目设备",
    "123": "停车场出入口控制设备",
    "124": "人员出入口控制设备",
    "125": "安检设备",
    "130": "HVR",
    "131": "摄像机",
    "132": "网络摄像机(IPC)",
    "133": "显示器",
    "134": "报警输入设备",
    "135": "报警输出设备",
    "136": "语音输入设备",
    "137": "语音输出设备",
    "138": "移动传输设备",
    "139": "其他外围设备",
    "200": "中心信令控制服务器",
    "201": "Web应用服务器",
    "202": "媒体分发服务器",
    "203": "代理服务器",
    "204": "安全服务器",
    "205": "报警服务器",
    "206": "数据库服务器",
    "207": "GIS服务器",
    "208": "管理服务器",
    "209": "接入网关",
    "210": "媒体存储服务器",
    "211": "信令安全路由网关",
    "215": "业务分组",
    "216": "虚拟组织",
    "300": "中心用户",
    "400": "终端用户",
}

CAMERA_TYPES = frozenset({"131", "132"})

_DIGITS_20 = re.compile(r"[0-9]{20}")
# What Excel leaves of a long number: '4.1990100011326e+19', '4.19901E+19',
# '41990100011326000001.0'.
_EXCEL_NUMBER = re.compile(r"[0-9](?:\.[0-9]*)?[eE][+-]?[0-9]+|[0-9]+\.0*")


class DeviceIdError(ValueError):
    """The text is not a valid GB/T 28181 device ID; the message says why, for people."""


@dataclass(frozen=True, slots=True)
class DeviceId:
    """A valid 20-digit GB/T 28181 device ID, split into its parts (all digit strings)."""

    text: str
    centre: str
    industry: str
    type_code: str
    network: str
    serial: str

    @property
    def is_camera(self) -> bool:
        """True for type 131 (camera) and 132 (IPC)."""
        return self.type_code in CAMERA_TYPES

    @property
    def type_name(self) -> str:
        """The standard's name for the type code, or '类型 NNN' for codes it does not name."""
        return TYPE_NAMES.get(self.type_code, f"类型 {self.type_code}")

    def __str__(self) -> str:
        return self.text


def parse_device_id(text: str) -> DeviceId:
    """Parse a GB/T 28181 ID; surrounding whitespace is ignored.

    Raises ``DeviceIdError`` with a short reason: empty, "looks like Excel turned the ID into
    a number; format the column as text", "contains non-digits", or "19 digits, expected 20".
    """
    s = text.strip()
    if _DIGITS_20.fullmatch(s):
        return DeviceId(s, s[:8], s[8:10], s[10:13], s[13], s[14:])
    if not s:
        raise DeviceIdError("empty")
    if _EXCEL_NUMBER.fullmatch(s):
        raise DeviceIdError(
            "looks like Excel turned the ID into a number; format the column as text"
        )
    if not s.isascii() or not s.isdigit():
        raise DeviceIdError("contains non-digits")
    raise DeviceIdError(f"{len(s)} digits, expected 20")
