"""The ``gridbridge`` command line (DESIGN §11).

Exit codes: 0 success, 1 the job failed, 2 bad usage or bad input (the message names the
file, row or key).  Data goes to stdout in ``--format table|json|csv``; logs and progress go
to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from bridge import __version__
from bridge.cli import accounts, check, commands, crew, diagnose, report, users, workorders
from bridge.cli.output import FORMATS
from bridge.logs import setup_logging
from bridge.settings import DEFAULT_CONFIG_PATH, ConfigError, Settings, load_settings

log = logging.getLogger("gridbridge")

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def build_parser() -> argparse.ArgumentParser:
    # --config and -v work before and after the sub-command; after it they must not reset
    # what was given before it, hence SUPPRESS as the sub-commands' default.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help=f"config file (default: {DEFAULT_CONFIG_PATH} if present, else built-in defaults)",
    )
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log at DEBUG level"
    )
    fmt = argparse.ArgumentParser(add_help=False)
    fmt.add_argument("--format", choices=FORMATS, default="table", help="output format")

    parser = argparse.ArgumentParser(
        prog="gridbridge",
        description="Links a district's video cameras to its governance grid, checks them, "
        "and tells the right people when one breaks.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"gridbridge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    config = sub.add_parser("config", help="configuration").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    p = config.add_parser("check", parents=[common], help="validate; print every problem")
    p.set_defaults(handler=commands.config_check, needs_settings=False)
    p = config.add_parser("show", parents=[common], help="print the effective config (secrets ***)")
    p.set_defaults(handler=commands.config_show)
    p = config.add_parser("example", parents=[common], help="print a documented example config")
    p.set_defaults(handler=commands.config_example, needs_settings=False)

    p = sub.add_parser("secret-key", parents=[common], help="print a new key for store.secret_key")
    p.set_defaults(handler=commands.secret_key_new, needs_settings=False)

    grid = sub.add_parser("grid", help="the grid map").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    p = grid.add_parser("load", parents=[common, fmt], help="load or replace the grid map")
    p.add_argument("file", type=Path, help="GeoJSON FeatureCollection (WGS-84)")
    p.set_defaults(handler=commands.grid_load)
    p = grid.add_parser("list", parents=[common, fmt], help="cells of the grid map")
    p.add_argument("--level", choices=["township", "village", "grid"], help="only this level")
    p.set_defaults(handler=commands.grid_list)

    cams = sub.add_parser("cameras", help="the camera inventory").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    p = cams.add_parser("import", parents=[common, fmt], help="import an inventory export")
    p.add_argument("file", type=Path, help="CSV (UTF-8 or GBK) or XLSX export")
    p.add_argument("--columns", type=Path, help="TOML column map for other exports")
    p.add_argument("--strict", action="store_true", help="import nothing if any row is bad")
    p.add_argument("--prune", action="store_true", help="remove cameras missing from the file")
    p.set_defaults(handler=commands.cameras_import)
    p = cams.add_parser("list", parents=[common, fmt], help="cameras, grid links and state")
    p.add_argument("--grid", help="township, village or grid code: everything below it")
    p.add_argument("--state", choices=["unknown", "online", "degraded", "offline"])
    p.set_defaults(handler=commands.cameras_list)

    p = sub.add_parser("check", parents=[common, fmt], help="check one camera now, every layer")
    p.add_argument("camera_id", help="the camera's 20-digit ID")
    p.add_argument(
        "--no-picture", action="store_true", help="skip the look at the picture (snapshot, VQD)"
    )
    p.set_defaults(handler=check.check_command)

    p = sub.add_parser(
        "diagnose",
        parents=[common, fmt],
        help="picture faults and metrics of still images (tuning frames.vqd, support)",
    )
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="JPEG or PNG files")
    p.add_argument("--previous", type=Path, help="a picture taken seconds before (frozen)")
    p.add_argument("--reference", type=Path, help="the camera's reference picture (scene)")
    p.add_argument(
        "--baseline",
        type=Path,
        nargs="+",
        metavar="IMG",
        help="healthy pictures of the same camera to learn its baseline from",
    )
    p.add_argument("--night", action="store_true", help="judge as in the night window")
    p.set_defaults(handler=diagnose.diagnose_command)

    pics = sub.add_parser("pictures", help="what gridbridge learnt of cameras' pictures")
    pics_sub = pics.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = pics_sub.add_parser(
        "reset",
        parents=[common],
        help="forget a camera's reference picture and baseline (re-aimed, refocused)",
    )
    p.add_argument("camera_id", help="the camera's 20-digit ID")
    p.set_defaults(handler=diagnose.pictures_reset)

    orders = sub.add_parser("workorders", help="maintenance work orders")
    orders_sub = orders.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = orders_sub.add_parser("list", parents=[common, fmt], help="work orders, oldest first")
    p.add_argument(
        "--state", choices=workorders.STATES, default="active", help="default: not closed"
    )
    p.add_argument("--camera", help="only orders of this camera ID")
    p.add_argument("--grid", help="township, village or grid code: orders of cameras below it")
    p.set_defaults(handler=workorders.workorders_list)
    p = orders_sub.add_parser("show", parents=[common], help="one order and its whole history")
    p.add_argument("order_id", help="the order's ID (WO-…)")
    p.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    p.set_defaults(handler=workorders.workorders_show)
    p = orders_sub.add_parser(
        "export", parents=[common], help="CSV or XLSX with Chinese headers, for reports"
    )
    p.add_argument("--format", choices=["csv", "xlsx"], required=True, help="file format")
    p.add_argument("--out", type=Path, required=True, help="the file to write")
    p.add_argument(
        "--from", dest="date_from", metavar="DATE", help="opened on or after (YYYY-MM-DD)"
    )
    p.add_argument("--to", dest="date_to", metavar="DATE", help="opened on or before (YYYY-MM-DD)")
    p.add_argument("--state", choices=workorders.STATES, default="all", help="default: all")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.set_defaults(handler=workorders.workorders_export)
    for action, what in (
        ("accept", "接单: the crew takes the order"),
        ("on-site", "到场: the crew is at the camera"),
        ("repaired", "修复: repaired; the daemon verifies it and closes the order"),
        ("close", "结案 by hand (false alarm, camera removed): --note says why"),
    ):
        p = orders_sub.add_parser(action, parents=[common], help=what)
        p.add_argument("order_id", help="the order's ID (WO-…)")
        p.add_argument("--actor", required=True, help="who (the crew member's name)")
        p.add_argument("--note", help="what was done or found")
        p.add_argument(
            "--token",
            help=f"API token (default: ${crew.TOKEN_ENV}, else the daemon's data_dir/cli.token)",
        )
        p.set_defaults(handler=crew.crew_step)

    report.register(sub, common)

    p = sub.add_parser(
        "simulate", parents=[common], help="serve simulated cameras of an inventory (127.x.y.z)"
    )
    p.add_argument("--inventory", type=Path, required=True, help="inventory file (CSV or XLSX)")
    p.add_argument("--faults", type=Path, help="JSON: camera ID → fault kind or {kind, …}")
    p.add_argument("--control", default="127.0.0.1:9554", help="HOST:PORT of the fault control API")
    p.set_defaults(handler=commands.simulate, needs_settings=False)

    p = sub.add_parser("run", parents=[common], help="the daemon")
    p.set_defaults(handler=commands.run_daemon)

    p = sub.add_parser(
        "demo",
        parents=[common],
        help="simulated cameras + embedded broker + SQLite + the daemon, in one command",
    )
    p.add_argument(
        "--cameras", type=int, help="N generated cameras instead of the sample district's list"
    )
    p.add_argument("--keep", type=Path, help="directory for the demo's data (default: temporary)")
    p.add_argument(
        "--http",
        default="127.0.0.1:8080",
        metavar="HOST:PORT",
        help="the web page's address (default 127.0.0.1:8080; a free port when it is taken)",
    )
    p.add_argument(
        "--no-browser",
        action="store_true",
        help="do not open the web page in a browser (it opens only on a desktop anyway)",
    )
    p.set_defaults(handler=commands.demo, needs_settings=False)

    p = sub.add_parser(
        "broker-accounts",
        parents=[common],
        help="Mosquitto ACL, password file and workstation accounts from the grid map",
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="directory for acl, passwd and accounts.csv (the passwords, mode 0600)",
    )
    p.add_argument(
        "--bridge-user",
        help="the daemon's broker account (default: mqtt.username, else gridbridge)",
    )
    p.add_argument(
        "--password-length", type=int, default=24, help="length of new passwords, 12 to 128"
    )
    p.add_argument(
        "--rotate",
        nargs="*",
        metavar="ACCOUNT",
        help="new passwords for every account, or for the accounts named",
    )
    p.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    p.set_defaults(handler=accounts.broker_accounts)

    users.add_parsers(sub, common, fmt)
    return parser


def _run(job: Coroutine[Any, Any, int]) -> int:
    """Run ``job`` on uvloop (a dependency where it exists) unless GRIDBRIDGE_UVLOOP=0; else,
    or where it is missing, on asyncio's own loop."""
    factory = None
    if os.environ.get("GRIDBRIDGE_UVLOOP", "1") != "0":
        try:
            import uvloop

            factory = uvloop.new_event_loop
        except ImportError:
            pass
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(job)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    config_path: Path | None = getattr(args, "config", None)
    args.verbose = getattr(args, "verbose", False)
    if config_path is None and DEFAULT_CONFIG_PATH.exists():
        config_path = DEFAULT_CONFIG_PATH
    args.config = config_path
    if not getattr(args, "needs_settings", True):
        setup_logging("DEBUG" if args.verbose else "INFO", json_lines=False)
        return _run(handler(args, Settings()))
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        print(f"gridbridge: config {exc.source} is not usable:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    setup_logging("DEBUG" if args.verbose else settings.log.level, settings.log.json_lines)
    try:
        return _run(handler(args, settings))
    except commands.UserError as exc:
        print(f"gridbridge: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("gridbridge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
