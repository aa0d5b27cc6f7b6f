"""Reading single inventory cells: numbers, ports, yes/no, grid code lists, hosts.

Pure.  Every parser returns ``None`` for text it cannot read; the caller decides whether
that is an error and words the message.
"""

from __future__ import annotations

import re
import unicodedata

# Where GB/T 28181 cameras can be: mainland China and its islands, generously.
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)°?")
_PORT = re.compile(r"[0-9]{1,5}(?:\.0*)?")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")
_GRID_SEPARATORS = re.compile(r"[,;、，；\s]+")
_TRUE = frozenset({"是", "y", "yes", "1", "true", "t", "√", "✓", "重点"})
_FALSE = frozenset({"", "否", "n", "no", "0", "false", "f", "×", "✗", "-", "/", "无"})


def _nfkc(text: str) -> str:
    """NFKC (full-width digits and punctuation → ASCII), skipped for ASCII text (fast path)."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text).strip()


def parse_key_location(text: str) -> bool | None:
    """是/否, Y/N, 1/0, true/false, √/× (any case) → bool; empty → False; else None."""
    key = _nfkc(text).strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    return None


def parse_number(text: str) -> float | None:
    """A plain decimal number ('114.13212', '-3', '32.08°'); no exponents, NaN or '1_0'."""
    text = _nfkc(text)
    if not _NUMBER.fullmatch(text):
        return None
    return float(text.rstrip("°"))


def parse_port(text: str) -> int | None:
    """A TCP port 1–65535 ('554', also '554.0' as some exports write it)."""
    if not _PORT.fullmatch(text):
        return None
    port = int(text.split(".")[0])
    return port if 1 <= port <= 65535 else None


def in_china(lon: float, lat: float) -> bool:
    """True inside the box lon 73–136, lat 3–54, where a district's cameras must be."""
    return CHINA_LON[0] <= lon <= CHINA_LON[1] and CHINA_LAT[0] <= lat <= CHINA_LAT[1]


def is_host(text: str) -> bool:
    """A plausible host: DNS name, IPv4 address or bracketed IPv6 address, no port."""
    return _HOST.fullmatch(text) is not None


def grid_codes(*cells: str) -> tuple[str, ...]:
    """Grid codes named by the cells, in order, without repeats.

    A cell may list several codes separated by , ; 、 (also full-width) or whitespace.
    """
    codes = (c for cell in cells for c in _GRID_SEPARATORS.split(_nfkc(cell)))
    return tuple(dict.fromkeys(c for c in codes if c))


def clip(text: str, limit: int = 40) -> str:
    """A cell quoted for a message: repr() (control characters escaped), at most ``limit``."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
