"""What each ``gridbridge`` sub-command does; parsing lives in :mod:`bridge.cli.main`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from cryptography.fernet import Fernet

from adapters.geojson import GridFileError
from adapters.inventory_file import InventoryFileError
from bridge.bootstrap import build_store
from bridge.cli import output
from bridge.cli.example import example_toml
from bridge.cli.reports import print_grid_report, print_inventory_report
from bridge.grid import GridIndex
from bridge.importer import NoGridMapError, import_inventory, load_grid
from bridge.inventory import ColumnError, load_column_map
from bridge.model import CameraState, CameraView, Severity
from bridge.secretbox import SecretError
from bridge.settings import ConfigError, Settings, load_settings
from bridge.store import StoreError


class UserError(Exception):
    """A failure to report in one line, without a traceback, with its exit code."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _say(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


async def config_check(args: argparse.Namespace, _: Settings) -> int:
    try:
        load_settings(args.config)
    except ConfigError as exc:
        _say(f"{exc.source}: {len(exc.problems)} problem(s)")
        for problem in exc.problems:
            _say(f"  {problem}")
        return 2
    _say(f"{args.config or 'built-in defaults'}: ok")
    return 0


async def config_show(args: argparse.Namespace, settings: Settings) -> int:
    _say(output.dumps(settings.model_dump(mode="json")))
    return 0


async def config_example(args: argparse.Namespace, _: Settings) -> int:
    sys.stdout.write(example_toml())
    return 0


async def run_daemon(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.app import Daemon, install_signal_handlers
    from bridge.bus.connection import BusConfigError
    from bridge.bus.embedded import EmbeddedBrokerError

    fatal = (StoreError, SecretError, BusConfigError, EmbeddedBrokerError)
    stop = asyncio.Event()
    install_signal_handlers(stop)
    try:
        await Daemon(settings).run(stop)
    except fatal as exc:
        raise UserError(str(exc), 1) from None
    except BaseExceptionGroup as group:  # a task of the daemon's TaskGroup failed
        match, _ = group.split(fatal)
        if match is None:
            raise
        first: BaseException = match
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise UserError(str(first), 1) from None
    return 0


async def demo(args: argparse.Namespace, _: Settings) -> int:
    from bridge.demo.run import run_demo

    if args.cameras is not None and not 1 <= args.cameras <= 20000:
        raise UserError("--cameras must be between 1 and 20000")
    host, sep, port = args.http.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError("--http must be HOST:PORT, e.g. 127.0.0.1:8080")
    return await run_demo(args.cameras, args.keep, http=args.http, browser=not args.no_browser)


async def simulate(args: argparse.Namespace, _: Settings) -> int:
    from bridge.simulator.run import run_simulate  # the simulator is not needed elsewhere

    return await run_simulate(args.inventory, args.faults, args.control)


async def secret_key_new(args: argparse.Namespace, _: Settings) -> int:
    _say(Fernet.generate_key().decode())
    return 0


async def grid_load(args: argparse.Namespace, settings: Settings) -> int:
    try:
        async with build_store(settings) as store:
            report = await load_grid(store, settings, args.file)
    except GridFileError as exc:
        raise UserError(str(exc)) from None
    except (StoreError, SecretError) as exc:
        raise UserError(str(exc), 1) from None
    print_grid_report(report, args.format)
    return 2 if report.problems else 0


async def grid_list(args: argparse.Namespace, settings: Settings) -> int:
    try:
        async with build_store(settings) as store:
            cells = await store.load_grid()
    except (StoreError, SecretError) as exc:
        raise UserError(str(exc), 1) from None
    if args.level:
        cells = [c for c in cells if c.level.value == args.level]
    headers = ["code", "name", "level", "parent"]
    rows = [[c.code, c.name, c.level, c.parent] for c in cells]
    _print_rows(args.format, headers, rows, [dict(zip(headers, r, strict=True)) for r in rows])
    return 0


async def cameras_import(args: argparse.Namespace, settings: Settings) -> int:
    try:
        column_map = load_column_map(args.columns) if args.columns else None
        async with build_store(settings) as store:
            report = await import_inventory(
                store,
                settings,
                args.file,
                column_map=column_map,
                strict=args.strict,
                prune=args.prune,
            )
    except (InventoryFileError, ColumnError, NoGridMapError) as exc:
        raise UserError(str(exc)) from None
    except (StoreError, SecretError) as exc:
        raise UserError(str(exc), 1) from None
    print_inventory_report(report, args.format)
    has_errors = any(i.severity is Severity.ERROR for i in report.issues)
    return 2 if has_errors else 0


CAMERA_COLUMNS = ["id", "name", "grids", "mapping", "state", "faults", "host", "key_location"]


def camera_item(cam: CameraView) -> dict[str, Any]:
    """One camera as scripts read it (DESIGN §11); never a password or stream URL."""
    return {
        "id": cam.id,
        "name": cam.name,
        "grids": list(cam.grids),
        "mapping": cam.mapping.value,
        "state": cam.state.value,
        "faults": list(cam.faults),
        "since": output.jsonable(cam.since),
        "checked_at": output.jsonable(cam.checked_at),
        "host": cam.host,
        "key_location": cam.key_location,
        "upstream": cam.upstream_id,
        "vendor": cam.vendor,
        "model": cam.model,
        "address": cam.address,
        "lon": cam.lon_wgs84,
        "lat": cam.lat_wgs84,
    }


async def cameras_list(args: argparse.Namespace, settings: Settings) -> int:
    try:
        async with build_store(settings) as store:
            codes: set[str] | None = None
            if args.grid:
                index = GridIndex(await store.load_grid())
                if index.cell(args.grid) is None:
                    raise UserError(f"grid code {args.grid} is not in the grid map")
                codes = index.descendants(args.grid)
            state = CameraState(args.state) if args.state else None
            cameras = await store.list_cameras(codes, state)
    except (StoreError, SecretError) as exc:
        raise UserError(str(exc), 1) from None
    items = [camera_item(c) for c in cameras]
    rows = [[item[k] for k in CAMERA_COLUMNS] for item in items]
    _print_rows(args.format, CAMERA_COLUMNS, rows, items)
    if args.format == "table":
        sys.stderr.write(f"{len(items)} camera(s)\n")
    return 0


def _print_rows(
    fmt: str, headers: list[str], rows: list[list[Any]], items: list[dict[str, Any]]
) -> None:
    if fmt == "json":
        _say(output.dumps(items))
    elif fmt == "csv":
        sys.stdout.write(output.csv_text(headers, rows))
    else:
        _say(output.table(headers, rows))
