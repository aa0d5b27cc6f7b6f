"""Printing what an import did: a readable summary, or one JSON object for scripts."""

from __future__ import annotations

import sys
from typing import Any

from bridge.cli import output
from bridge.importer import GridReport, InventoryReport
from bridge.model import RowIssue

MAX_LISTED = 200  # rows of problems shown in the table format; JSON has them all


def _issue(item: RowIssue) -> dict[str, Any]:
    return {
        "row": item.row,
        "camera_id": item.camera_id,
        "kind": item.kind,
        "severity": item.severity.value,
        "message": item.message,
    }


def inventory_json(report: InventoryReport) -> dict[str, Any]:
    counts = report.counts
    return {
        "source": report.source,
        "sheet": report.sheet,
        "header_row": report.header_row,
        "rows": report.rows,
        "imported": report.imported,
        "added": counts.added if counts else 0,
        "updated": counts.updated if counts else 0,
        "unchanged": counts.unchanged if counts else 0,
        "pruned": counts.pruned if counts else 0,
        "rejected": len(report.errors),
        "warnings": len(report.warnings),
        "strict_refused": report.strict_refused,
        "mappings": report.mappings,
        "missing": report.missing,
        "issues": [_issue(i) for i in report.issues],
    }


def print_inventory_report(report: InventoryReport, fmt: str) -> None:
    if fmt == "json":
        print(output.dumps(inventory_json(report)))
        return
    if fmt == "csv":
        rows = [
            [i.row, i.camera_id or "", i.severity.value, i.kind, i.message] for i in report.issues
        ]
        sys.stdout.write(output.csv_text(["row", "camera_id", "severity", "kind", "message"], rows))
        return
    if report.issues:
        rows = [
            [i.row, i.camera_id or "", i.severity.value, i.kind, i.message]
            for i in report.issues[:MAX_LISTED]
        ]
        print(output.table(["row", "camera", "severity", "kind", "reason"], rows))
        if len(report.issues) > MAX_LISTED:
            print(f"… and {len(report.issues) - MAX_LISTED} more (use --format json)")
        print()
    where = f"{report.source}" + (f", sheet {report.sheet}" if report.sheet else "")
    print(f"{where}: header on row {report.header_row}, {report.rows} data rows")
    if report.strict_refused:
        print(f"--strict: {len(report.errors)} bad row(s), nothing imported")
    elif report.counts:
        c = report.counts
        print(
            f"imported {report.imported}: {c.added} added, {c.updated} updated, "
            f"{c.unchanged} unchanged; {len(report.errors)} row(s) rejected, "
            f"{len(report.warnings)} warning(s)"
        )
        m = report.mappings
        print(
            f"grid links: {m.get('explicit', 0)} by explicit code, "
            f"{m.get('coordinates', 0)} by coordinates, {m.get('unmapped', 0)} unmapped"
        )
    if report.missing:
        pruned = report.counts.pruned if report.counts else 0
        verb = "removed (--prune)" if pruned else "kept; use --prune to remove them"
        shown = ", ".join(report.missing[:10]) + (" …" if len(report.missing) > 10 else "")
        print(f"{len(report.missing)} camera(s) in the store are not in this file, {verb}: {shown}")


def print_grid_report(report: GridReport, fmt: str) -> None:
    if fmt == "json":
        print(
            output.dumps(
                {
                    "source": report.source,
                    "loaded": not report.problems,
                    "cells": report.cells,
                    "problems": [
                        {"feature": p.index, "code": p.code, "message": p.message}
                        for p in report.problems
                    ],
                    "relinked": report.relinked,
                    "mappings": report.mappings,
                    "warnings": [_issue(i) for i in report.warnings],
                }
            )
        )
        return
    if report.problems:
        for p in report.problems:
            print(f"{report.source}: {p.message}")
        print(
            f"{report.source}: {len(report.problems)} bad feature(s); the grid map was not changed"
        )
        return
    c = report.cells
    print(
        f"{report.source}: loaded {c.get('township', 0)} townships, {c.get('village', 0)} "
        f"villages, {c.get('grid', 0)} grids"
    )
    if report.relinked:
        m = report.mappings
        print(
            f"re-linked {report.relinked} cameras: {m.get('explicit', 0)} explicit, "
            f"{m.get('coordinates', 0)} by coordinates, {m.get('unmapped', 0)} unmapped"
        )
    for w in report.warnings[:MAX_LISTED]:
        print(f"  camera {w.camera_id}: {w.message}")
