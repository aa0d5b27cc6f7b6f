"""Which column of an inventory export holds which field: header words and column maps.

Pure except ``load_column_map``, which reads one small TOML file.  Header text is compared
after normalising (``normalise_header``), so '经度(X)', '经度（X）', ' 经度 ' and '*经度' all
read as 经度, and 'RTSP_URL' as 'rtspurl'.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path

FIELDS: tuple[str, ...] = (
    "id", "name", "host", "rtsp_port", "onvif_port", "username", "password", "rtsp_url",
    "lon", "lat", "crs", "grid", "key_location", "upstream", "address", "vendor", "model",
    "extra_grids",
)  # fmt: skip

# Header words of common platform exports (海康 iVMS/综合安防, 大华 DSS/ICC, 宇视, 雪亮 platforms),
# most specific first: when two columns name the same field, the earlier word wins.
# fmt: off
_ALIASES: dict[str, tuple[str, ...]] = {
    "id": (
        "国标编码", "国标ID", "国标编号", "设备国标编码", "通道国标编码", "GB28181编码", "gb_id",
        "设备编码", "设备ID", "设备编号", "device_id", "camera_id", "通道编码", "摄像机编码",
        "点位编码", "监控点编码", "编码", "id",
    ),
    "name": (
        "设备名称", "点位名称", "摄像机名称", "监控点名称", "通道名称", "设备名", "点位名",
        "camera_name", "名称", "name",
    ),
    "host": ("IP地址", "设备IP", "设备IP地址", "IPv4地址", "ip_address", "IP", "host"),
    "rtsp_port": ("RTSP端口", "RTSP端口号", "rtsp_port"),
    # A bare 端口 is often the vendor SDK port (Hikvision 8000, Dahua 37777), not ONVIF:
    # it is the weakest word, used only when nothing better names the ONVIF port.
    "onvif_port": ("ONVIF端口", "ONVIF端口号", "onvif_port", "HTTP端口", "http_port", "端口"),
    "username": ("用户名", "登录用户", "登录用户名", "登录名", "账号", "帐号", "username", "user"),
    "password": ("密码", "登录密码", "password", "passwd", "pwd"),
    "rtsp_url": (
        "RTSP地址", "取流地址", "视频流地址", "流地址", "码流地址", "播放地址", "RTSP URL",
        "rtsp_url", "stream_url", "rtsp", "url",
    ),
    "lon": ("经度", "经度坐标", "经度(X)", "X坐标", "longitude", "lng", "lon", "X"),
    "lat": ("纬度", "纬度坐标", "纬度(Y)", "Y坐标", "latitude", "lat", "Y"),
    "crs": ("坐标系", "坐标类型", "坐标系统", "坐标系类型", "坐标标准", "crs"),
    "grid": ("所属网格", "网格编码", "所属网格编码", "网格代码", "网格", "grid", "grid_code"),
    "extra_grids": ("关联网格", "其他网格", "关联网格编码", "extra_grids"),
    "key_location": ("重点部位", "是否重点", "是否重点部位", "重点点位", "重点", "key_location"),
    "upstream": (
        "上级设备", "上级设备编码", "所属NVR", "NVR编码", "上级编码", "所属录像机", "upstream",
        "nvr",
    ),
    "address": ("安装地址", "安装位置", "点位地址", "地址", "位置", "address", "location"),
    "vendor": ("厂商", "品牌", "生产厂商", "厂家", "设备厂商", "vendor", "manufacturer", "brand"),
    "model": ("型号", "设备型号", "model"),
}
# fmt: on

_BRACKETED = re.compile(r"\([^)]*\)|\[[^\]]*\]|【[^】]*】|<[^>]*>")
_IGNORED = re.compile(r"[\s*:_\-./()\[\]【】<>]")


class ColumnError(ValueError):
    """Columns cannot be resolved, or a column map is invalid; the message lists every problem."""


def normalise_header(text: str) -> str:
    """Header text reduced for comparison: NFKC, lower case, no spaces, brackets or units.

    Bracketed parts are dropped ('经度(X)' → '经度') unless nothing else is left ('(X)' → 'x').
    """
    s = unicodedata.normalize("NFKC", text).strip().lower()
    without = _BRACKETED.sub("", s)
    return _IGNORED.sub("", without) or _IGNORED.sub("", s)


def _build_lookup() -> dict[str, tuple[str, int]]:
    lookup: dict[str, tuple[str, int]] = {}
    for field, words in _ALIASES.items():
        for rank, word in enumerate(words):
            key = normalise_header(word)
            other = lookup.get(key)
            if other is not None and other[0] != field:
                raise AssertionError(f"header word {word!r} claimed by {other[0]} and {field}")
            lookup.setdefault(key, (field, rank))
    return lookup


_LOOKUP = _build_lookup()


_EXAMPLES = (
    "设备编码", "国标编码", "设备名称", "点位名称", "IP地址", "RTSP地址", "用户名", "密码",
    "经度", "纬度", "坐标系", "所属网格", "重点部位", "上级设备",
)  # fmt: skip


def known_header_words() -> str:
    """A short, readable list of recognised header words, for error messages."""
    return ", ".join(_EXAMPLES) + ", …"


def is_header(cells: Sequence[str], column_map: Mapping[str, str] | None = None) -> bool:
    """True if the row looks like a header: it names at least 3 known fields.

    With a column map, a row holding every header text the map names also counts.
    """
    fields = {hit[0] for c in cells if c and (hit := _LOOKUP.get(normalise_header(c)))}
    if len(fields) >= 3:
        return True
    if column_map:
        present = {normalise_header(c) for c in cells if c}
        return all(normalise_header(t) in present for t in column_map.values())
    return False


def resolve_columns(
    headers: Sequence[str], column_map: Mapping[str, str] | None = None
) -> dict[str, int]:
    """Map each field found to its column index (0-based); fields not found are absent.

    Entries of ``column_map`` (field → header text in the user's file) win over the built-in
    words, and a column they claim is not matched again.  Raises ``ColumnError`` listing all
    problems at once: unknown field names or header texts absent from the file in the map,
    and a missing ``id`` column.
    """
    norm = [normalise_header(h) for h in headers]
    result: dict[str, int] = {}
    problems: list[str] = []
    for field, text in (column_map or {}).items():
        if field not in FIELDS:
            problems.append(f"unknown field {field!r} in the column map")
            continue
        exact = [i for i, h in enumerate(headers) if h.strip() == text.strip()]
        loose = [i for i, n in enumerate(norm) if n and n == normalise_header(text)]
        if exact or loose:
            result[field] = (exact or loose)[0]
        else:
            problems.append(f"column map: {field} = {text!r} but no column has that header")
    taken = set(result.values())
    best: dict[str, tuple[int, int]] = {}  # field -> (rank, index)
    for i, n in enumerate(norm):
        hit = _LOOKUP.get(n)
        if hit is None or i in taken or hit[0] in result:
            continue
        field, rank = hit
        if field not in best or rank < best[field][0]:
            best[field] = (rank, i)
    result.update({field: index for field, (_, index) in best.items()})
    if "id" not in result:
        found = ", ".join(repr(h) for h in headers if h) or "none"
        problems.append(
            "no column for the camera ID (known names: "
            + ", ".join(_ALIASES["id"][:8])
            + f", …); columns found: {found}; name it with --columns MAP.toml"
        )
    if problems:
        raise ColumnError("; ".join(problems))
    return result


def load_column_map(path: Path) -> dict[str, str]:
    """Read a column map: a TOML file whose ``[columns]`` table maps field → header text.

    Example (see ``config/columns.example.toml``)::

        [columns]
        id = "摄像机国标号"      # the header text exactly as in the export
        name = "监控点"
        lon = "东经"
        lat = "北纬"

    Fields: id, name, host, rtsp_port, onvif_port, username, password, rtsp_url, lon, lat,
    crs, grid, extra_grids, key_location, upstream, address, vendor, model.  Fields not
    named keep the built-in header words.  Raises ``ColumnError`` naming the file and listing
    every problem at once: unreadable or invalid TOML, no ``[columns]`` table, other tables,
    unknown fields, values that are not non-empty strings, one header used for two fields.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ColumnError(f"{path}: cannot read the column map: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ColumnError(f"{path}: the column map is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ColumnError(f"{path}: the column map is not valid TOML: {exc}") from None
    columns = data.get("columns")
    if not isinstance(columns, dict):
        raise ColumnError(f'{path}: no [columns] table (field = "header text")')
    problems = [f"unknown key {key!r} (only [columns] is read)" for key in data if key != "columns"]
    seen: dict[str, str] = {}
    for field, text in columns.items():
        if field not in FIELDS:
            problems.append(f"columns.{field}: unknown field (known: {', '.join(FIELDS)})")
        if not isinstance(text, str) or not text.strip():
            problems.append(f"columns.{field}: must be a non-empty string (the header text)")
            continue
        key = normalise_header(text)
        if key in seen:
            problems.append(f"columns.{field}: header {text!r} is already used for {seen[key]}")
        seen[key] = field
    if problems:
        raise ColumnError(f"{path}: " + "; ".join(problems))
    return {field: text.strip() for field, text in columns.items()}
