"""Reading a grid file: a GeoJSON FeatureCollection on disk (DESIGN §7).

This adapter only turns bytes into raw feature dicts; what a feature must contain is judged by
:func:`bridge.grid.validate_cells`.  The file is untrusted input (DESIGN §12): its size is
checked before it is read, and every way it can be unreadable ends in one
:class:`GridFileError` whose message names the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapters.files import checked_size

__all__ = ["DEFAULT_MAX_BYTES", "GridFileError", "read_grid_file"]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class GridFileError(ValueError):
    """The grid file cannot be used at all; the message names the file and says why."""


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity, which are not JSON and not coordinates.
    raise ValueError(f"{name} is not allowed in JSON")


def read_grid_file(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[dict[str, Any]]:
    """Return the features of the GeoJSON FeatureCollection at ``path``, as raw dicts.

    Accepts UTF-8 with or without a byte-order mark.  Raises :class:`GridFileError` when the
    file is missing or not a regular file, is larger than ``max_bytes`` (checked before
    reading), is not UTF-8, is not JSON (the message gives line and column), is not a
    FeatureCollection, has no features, or has a feature that is not a JSON object.
    """
    _, problem = checked_size(path, max_bytes)
    if problem:
        raise GridFileError(
            f"grid file {path}: {problem} (grid.max_file_mb)"
            if "allowed" in problem
            else f"grid file {path}: {problem}"
        )

    try:
        with path.open("rb") as handle:
            # Read one byte past the limit: the file may have grown since stat().
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise GridFileError(f"grid file {path}: cannot be read ({exc.strerror})") from None
    if len(data) > max_bytes:
        raise GridFileError(f"grid file {path}: over the limit of {max_bytes} bytes")

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GridFileError(
            f"grid file {path}: not UTF-8 (invalid byte at offset {exc.start}); save it as UTF-8"
        ) from None

    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise GridFileError(
            f"grid file {path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:  # from _reject_constant
        raise GridFileError(f"grid file {path}: not valid JSON: {exc}") from None
    except RecursionError:
        raise GridFileError(f"grid file {path}: JSON is nested too deeply") from None

    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        found = document.get("type") if isinstance(document, dict) else type(document).__name__
        raise GridFileError(
            f"grid file {path}: expected a GeoJSON FeatureCollection, found {found!r}"
        )
    features = document.get("features")
    if not isinstance(features, list):
        raise GridFileError(f"grid file {path}: 'features' is missing or not a list")
    if not features:
        raise GridFileError(f"grid file {path}: the FeatureCollection has no features")
    for index, feature in enumerate(features):
        if not isinstance(feature, dict):
            raise GridFileError(
                f"grid file {path}: feature {index} is not a JSON object "
                f"(found {type(feature).__name__})"
            )
    return features
