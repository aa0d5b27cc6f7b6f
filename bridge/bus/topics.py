"""Every MQTT topic of the bus, built and parsed in one typed place (DESIGN §4, docs/bus.md).

Topics follow the grid hierarchy, ``{root}/grid/{town}/{village}/{grid}/…``, so that one
wildcard subscription takes a whole township or village and a broker ACL can give each
workstation exactly its own subtree.  A camera linked to a township or village directly
(not to a grid cell) uses ``_`` for the missing levels; an unmapped camera lives under
``_/_/_`` (:data:`UNMAPPED`).

Every code, camera ID and order ID that goes into a topic is checked here, once, so that no
caller can build a topic that escapes its subtree or matches more than it names: a value is
refused with ``ValueError`` when it is empty, longer than :data:`MAX_SEGMENT_BYTES` in UTF-8,
contains ``/``, ``+``, ``#``, NUL or another control character, or a Unicode non-character
(Mosquitto closes the connection of a client that sends one), or starts or ends with
whitespace (broker ACL files trim it).  Codes are strings: nothing assumes digits.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "MAX_ROOT_BYTES",
    "MAX_SEGMENT_BYTES",
    "PLACEHOLDER",
    "UNMAPPED",
    "GridPath",
    "Topics",
    "camera_paths",
    "check_segment",
    "path_of",
]

PLACEHOLDER = "_"
"""Stands for a level a camera is not linked below (or every level, when unmapped)."""

MAX_SEGMENT_BYTES = 128
"""Longest code, camera ID or order ID accepted in a topic, in UTF-8 bytes."""

MAX_ROOT_BYTES = 256
"""Longest topic root accepted, in UTF-8 bytes (MQTT allows 65,535 for a whole topic)."""

# C0 and C1 controls (NUL included), the MQTT separators and wildcards, surrogates (not
# encodable in UTF-8) and the non-characters of the Basic Multilingual Plane.
_FORBIDDEN = re.compile("[/+#\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


def check_segment(value: str, what: str = "code") -> str:
    """Return ``value`` when it is usable as one topic level; raise ``ValueError`` otherwise.

    ``what`` names the value in the message (``"village code"``, ``"camera ID"`` …).  The
    message shows the value with ``repr`` cut to 40 characters: it may come from a file.
    """
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} is empty")
    bad = _FORBIDDEN.search(value)
    if bad is not None:
        raise ValueError(f"{what} {_show(value)} contains {bad.group()!r}, not allowed in a topic")
    if not value.isascii() and any((ord(ch) & 0xFFFE) == 0xFFFE for ch in value):
        raise ValueError(f"{what} {_show(value)} contains a Unicode non-character")
    if value != value.strip():
        raise ValueError(f"{what} {_show(value)} starts or ends with whitespace")
    size = len(value.encode("utf-8"))
    if size > MAX_SEGMENT_BYTES:
        raise ValueError(f"{what} {_show(value)} is {size} bytes, at most {MAX_SEGMENT_BYTES}")
    return value


def _check_code(value: str, what: str) -> str:
    """A real code: a valid segment that is not the placeholder."""
    check_segment(value, what)
    if value == PLACEHOLDER:
        raise ValueError(f"{what} {PLACEHOLDER!r} is reserved as the placeholder")
    return value


def _show(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True, slots=True, order=True)
class GridPath:
    """Where a camera (or a summary) sits in the tree: township / village / grid code.

    ``_`` fills the levels below the cell a camera is linked to, and every level of an
    unmapped camera.  Construction refuses bad codes (see the module doc) and impossible
    shapes: a placeholder may only be followed by placeholders (``t/_/g`` is refused).
    Ordering is by town, then village, then grid, as strings.
    """

    town: str
    village: str
    grid: str

    def __post_init__(self) -> None:
        levels = (("township code", self.town), ("village code", self.village))
        for what, code in (*levels, ("grid code", self.grid)):
            check_segment(code, what)
        if (self.town == PLACEHOLDER and self.village != PLACEHOLDER) or (
            self.village == PLACEHOLDER and self.grid != PLACEHOLDER
        ):
            raise ValueError(
                f"grid path {self.segments()!r}: a level below a placeholder must be one too"
            )

    def segments(self) -> str:
        """The three levels joined by ``/``: ``419901001/419901001002/419901001002003``."""
        return f"{self.town}/{self.village}/{self.grid}"

    @property
    def level(self) -> str | None:
        """The level this path names as a cell: ``grid``, ``village``, ``township``, or
        ``None`` for :data:`UNMAPPED`."""
        if self.grid != PLACEHOLDER:
            return "grid"
        if self.village != PLACEHOLDER:
            return "village"
        if self.town != PLACEHOLDER:
            return "township"
        return None

    @property
    def code(self) -> str | None:
        """The code of the cell this path names (its lowest real level), ``None`` when
        unmapped."""
        for code in (self.grid, self.village, self.town):
            if code != PLACEHOLDER:
                return code
        return None


UNMAPPED = GridPath(PLACEHOLDER, PLACEHOLDER, PLACEHOLDER)
"""The path of a camera outside every grid cell (still monitored and published)."""


def path_of(code: str, ancestors: list[str]) -> GridPath:
    """The path of the cell ``code``, given ``GridIndex.ancestors(code)``.

    ``ancestors`` lists 1–3 codes, township first, ending with ``code`` itself; missing
    lower levels become ``_``.  An empty list (a code the grid map does not know, such as a
    stale link) gives :data:`UNMAPPED`: the camera is still published, where the district
    sees it.  Raises ``ValueError`` when the list does not end with ``code``, is longer than
    three, or holds a code unusable in a topic (or the placeholder ``_`` itself).

    Assumes the map is a validated tree (``bridge.grid.validate_cells``): its top level is
    the township, so one code is a township and two are a township and a village.
    """
    if not ancestors:
        return UNMAPPED
    if ancestors[-1] != code:
        raise ValueError(f"ancestors {ancestors!r} do not end with the cell's code {code!r}")
    if len(ancestors) > 3:
        raise ValueError(f"grid path {ancestors!r} is deeper than township/village/grid")
    levels = ("township code", "village code", "grid code")
    codes = [_check_code(c, what) for c, what in zip(ancestors, levels, strict=False)]
    codes += [PLACEHOLDER] * (3 - len(codes))
    return GridPath(codes[0], codes[1], codes[2])


def camera_paths(
    grid_codes: Iterable[str], ancestors: Callable[[str], list[str]]
) -> tuple[GridPath, ...]:
    """Every path a camera is published under, sorted and without repeats.

    ``grid_codes`` are the cells the camera is linked to (any level); ``ancestors`` is
    ``GridIndex.ancestors``.  A camera linked to two grids gets two paths; a camera linked
    to none, or only to codes the map does not know, gets ``(UNMAPPED,)``.  Raises
    ``ValueError`` as :func:`path_of` does.
    """
    paths = {path_of(code, ancestors(code)) for code in grid_codes}
    paths.discard(UNMAPPED)
    return tuple(sorted(paths)) if paths else (UNMAPPED,)


class Topics:
    """Builds and parses the topics under one root (default ``gridbridge``).

    The root may have several levels (``city/gridbridge``); each is checked like a code and
    it must not start with ``$`` (such topics are the broker's own and ``#`` does not match
    them).  Raises ``ValueError`` for a bad root, and from every builder for a bad code or ID.
    """

    def __init__(self, root: str) -> None:
        if not isinstance(root, str) or not root:
            raise ValueError("topic root is empty")
        for level in root.split("/"):
            check_segment(level, "topic root level")
        if root.startswith("$"):
            raise ValueError(f"topic root {_show(root)} starts with '$' (reserved by brokers)")
        if len(root.encode("utf-8")) > MAX_ROOT_BYTES:
            raise ValueError(f"topic root is longer than {MAX_ROOT_BYTES} bytes")
        self.root = root
        self._grid_prefix = f"{root}/grid/"

    def __repr__(self) -> str:
        return f"Topics({self.root!r})"

    def bridge_state(self) -> str:
        """``{root}/bridge/state``: ``online``/``offline``, retained, the last will."""
        return f"{self.root}/bridge/state"

    def _camera(self, path: GridPath, camera_id: str, leaf: str) -> str:
        check_segment(camera_id, "camera ID")
        return f"{self._grid_prefix}{path.segments()}/camera/{camera_id}/{leaf}"

    def status(self, path: GridPath, camera_id: str) -> str:
        """``{root}/grid/{t}/{v}/{g}/camera/{id}/status``: JSON status, retained."""
        return self._camera(path, camera_id, "status")

    def snapshot(self, path: GridPath, camera_id: str) -> str:
        """``…/camera/{id}/snapshot``: a JPEG thumbnail, not retained."""
        return self._camera(path, camera_id, "snapshot")

    def request(self, path: GridPath, camera_id: str) -> str:
        """``…/camera/{id}/request``: where workstations ask for a snapshot or a re-check."""
        return self._camera(path, camera_id, "request")

    def response(self, path: GridPath, camera_id: str) -> str:
        """``…/camera/{id}/response``: the answer to a request, echoing its id."""
        return self._camera(path, camera_id, "response")

    def grid_summary(self, path: GridPath) -> str:
        """``{root}/grid/{t}/{v}/{g}/summary`` for a real grid cell (``g`` is not ``_``)."""
        if path.grid == PLACEHOLDER:
            raise ValueError(f"no grid summary for {path.segments()!r}: it names no grid cell")
        return f"{self._grid_prefix}{path.segments()}/summary"

    def village_summary(self, town: str, village: str) -> str:
        """``{root}/grid/{t}/{v}/summary``; both codes real (not ``_``)."""
        _check_code(town, "township code")
        _check_code(village, "village code")
        return f"{self._grid_prefix}{town}/{village}/summary"

    def town_summary(self, town: str) -> str:
        """``{root}/grid/{t}/summary``; the code real (not ``_``)."""
        _check_code(town, "township code")
        return f"{self._grid_prefix}{town}/summary"

    def summary(self, key: GridPath) -> str:
        """The summary topic of the cell ``key`` names, by its level (see
        :attr:`GridPath.level`): a grid, a village ``t/v/_`` or a township ``t/_/_``.
        Raises ``ValueError`` for :data:`UNMAPPED`, which has no summary."""
        level = key.level
        if level == "grid":
            return self.grid_summary(key)
        if level == "village":
            return self.village_summary(key.town, key.village)
        if level == "township":
            return self.town_summary(key.town)
        raise ValueError("unmapped cameras have no summary topic")

    def alarm(self, kind: str) -> str:
        """``{root}/bridge/alarm/{kind}``: the bridge's own alarms (``bridge_network``)."""
        check_segment(kind, "alarm kind")
        return f"{self.root}/bridge/alarm/{kind}"

    def workorder(self, town: str, order_id: str) -> str:
        """``{root}/workorders/{t}/{order_id}``; ``t`` is ``_`` for unmapped cameras."""
        check_segment(town, "township code")
        check_segment(order_id, "order ID")
        return f"{self.root}/workorders/{town}/{order_id}"

    def request_filter(self) -> str:
        """The subscription that receives every request: ``{root}/grid/+/+/+/camera/+/request``."""
        return f"{self._grid_prefix}+/+/+/camera/+/request"

    def parse_request(self, topic: str) -> tuple[GridPath, str] | None:
        """``(path, camera ID)`` when ``topic`` is a request topic under this root, else
        ``None``.  Never raises: any other shape, another root, a wildcard, an empty or
        malformed level or an impossible path (``_/v/g``) gives ``None``."""
        if not isinstance(topic, str) or not topic.startswith(self._grid_prefix):
            return None
        parts = topic[len(self._grid_prefix) :].split("/")
        if len(parts) != 6 or parts[3] != "camera" or parts[5] != "request":
            return None
        try:
            path = GridPath(parts[0], parts[1], parts[2])
            camera_id = check_segment(parts[4], "camera ID")
        except ValueError:
            return None
        return path, camera_id
