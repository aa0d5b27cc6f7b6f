"""The measured client of bench_checks.py, run in a process of its own (one per fleet size).

    python bench/_client.py --data-dir DIR --expected FILE --sim-pid PID [--repeat 3] [--uvloop]

Figures, in this order so that memory is measured in a fresh process:
  memory + first state: a Monitor over the store at probe.interval_s = 30 (bench/_pipeline.py);
  steady state: a Monitor at the interval that demands ``--rate`` checks/s;
  throughput: every camera once through ``Checker.check`` as fast as the caps allow
  (a warm-up pass, then ``--repeat`` passes; with ``--uvloop``, alternating with uvloop).
Prints one JSON object on its last stdout line, with ``error`` set if a figure failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import statistics
import sys
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _pipeline import TIMEOUT_S, bench_probes, first_state, settings_for, steady
from _proc import Clock, open_fds

from bridge.bootstrap import build_store
from bridge.checker import CheckTarget
from bridge.logs import setup_logging
from bridge.model import CameraState
from bridge.monitor import check_target
from bridge.probes import Probes
from bridge.settings import Settings
from health.verdict import VerdictRules, judge

Result = dict[str, Any]
FIGURES = ["first", "steady", "throughput"]


async def load_targets(settings: Settings) -> list[CheckTarget]:
    async with build_store(settings) as store:
        records, _ = await store.monitor_records()
    return [t for r in records if (t := check_target(r, settings)) is not None]


async def throughput_pass(probes: Probes, targets: list[CheckTarget], args: Any) -> Result:
    """Every camera checked once, ``concurrency`` at a time (``per_host`` per address)."""
    checker = probes.checker
    hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
        lambda: asyncio.Semaphore(args.per_host)
    )
    todo = iter(targets)
    done: list[tuple[float, float, Any]] = []  # (finished at, took, observation)
    peaks = [open_fds()]
    loop = asyncio.get_running_loop()

    async def worker() -> None:
        for target in todo:
            async with hosts[target.host]:
                started = loop.time()
                obs = await checker.check(target)
                now = loop.time()
                done.append((now, now - started, obs))
                if len(done) % 2000 == 0:
                    peaks.append(open_fds())

    clock = Clock(args.sim_pid).start()
    t0 = loop.time()
    async with asyncio.TaskGroup() as tasks:
        for _ in range(min(args.concurrency, len(targets))):
            tasks.create_task(worker())
    used = clock.stop()
    # Checks that ran into a layer's deadline (blackhole cameras) end one timeout or more
    # after they start; the sustained rate leaves that tail out.
    fast = sorted(at - t0 for at, took, _ in done if took < TIMEOUT_S * 0.9)
    n = len(done)
    return {
        "n": n,
        "wall_s": used["wall"],
        "rate": n / used["wall"],
        "sustained_rate": len(fast) / fast[-1] if fast else 0.0,
        "deadline_bound": n - len(fast),
        "cpu_ms_per_check": used["cpu"] / n * 1000,
        "sim_cpu_ms_per_check": used["sim"] / n * 1000,
        "others_pct": used["others"] / used["wall"] * 100,
        "peak_fds": max(peaks),
        "observations": [obs for _, _, obs in done],
    }


def tally(observations: list[Any], expected: dict[str, str]) -> Result:
    """States seen, and whether each camera shows the fault its simulator fault implies."""
    rules = VerdictRules()
    states: Counter[str] = Counter()
    wrong: list[str] = []
    for obs in observations:
        health = judge(obs, rules)
        states[health.state.value] += 1
        want = expected.get(obs.camera_id, "")
        if (want not in health.faults) if want else health.state is not CameraState.ONLINE:
            wrong.append(f"{obs.camera_id}: want {want or 'online'}, got {health.summary[:80]}")
    return {"states": dict(states), "unexpected": len(wrong), "unexpected_sample": wrong[:3]}


def loop_factories(want_uvloop: bool) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    loops: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
    if want_uvloop:
        try:
            uvloop = importlib.import_module("uvloop")  # optional, not a dependency
        except ImportError:
            print("uvloop not importable: measured with asyncio's loop only", file=sys.stderr)
        else:
            loops["uvloop"] = uvloop.new_event_loop
    return loops


def summary(passes: list[Result]) -> Result:
    keys = ("rate", "sustained_rate", "cpu_ms_per_check", "sim_cpu_ms_per_check", "others_pct")
    out: Result = {}
    for key in keys:
        values = [p[key] for p in passes]
        out[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    out["deadline_bound"] = passes[-1]["deadline_bound"]
    out["peak_fds"] = max(p["peak_fds"] for p in passes)
    return out


def throughput(args: argparse.Namespace, expected: dict[str, str], result: Result) -> None:
    runners = {
        name: asyncio.Runner(loop_factory=f) for name, f in loop_factories(args.uvloop).items()
    }
    stacks = {name: contextlib.AsyncExitStack() for name in runners}
    settings = settings_for(args, 30.0)
    try:
        targets = runners["asyncio"].run(load_targets(settings))
        probes = {
            name: runner.run(
                stacks[name].enter_async_context(bench_probes(settings, args.onvif_keepalive_s))
            )
            for name, runner in runners.items()
        }
        for name, runner in runners.items():  # warm-up: Digest nonces cached, first imports
            warm = runner.run(throughput_pass(probes[name], targets, args))
            result.setdefault("tally", {})[name] = tally(warm.pop("observations"), expected)
            result.setdefault("cold", {})[name] = warm
        passes: dict[str, list[Result]] = {name: [] for name in runners}
        for _ in range(args.repeat):
            for name, runner in runners.items():
                one = runner.run(throughput_pass(probes[name], targets, args))
                one.pop("observations")
                passes[name].append(one)
        result["throughput"] = {name: summary(p) for name, p in passes.items()}
    finally:
        for name, runner in runners.items():
            runner.run(stacks[name].aclose())
            runner.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--expected", type=Path, required=True)
    parser.add_argument("--sim-pid", type=int, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--per-host", type=int, default=2)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--onvif-keepalive-s", type=float, default=1.0)
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument(
        "--figures", nargs="+", choices=FIGURES, default=FIGURES, help="which to measure"
    )
    parser.add_argument(
        "--first-keepalive-s", type=float, help="ONVIF keep-alive for 'first' (default: shipped)"
    )
    args = parser.parse_args()
    setup_logging("WARNING", json_lines=False)
    expected = json.loads(args.expected.read_text(encoding="utf-8"))
    result: Result = {"cameras": len(expected)}
    try:
        # The Monitor figures run on the loop the daemon would use (uvloop with --uvloop).
        factory = loop_factories(args.uvloop).get("uvloop") if args.uvloop else None
        if "first" in args.figures:
            with asyncio.Runner(loop_factory=factory) as runner:
                result["first"] = runner.run(first_state(args, expected))
        if "steady" in args.figures:
            with asyncio.Runner(loop_factory=factory) as runner:
                result["steady"] = runner.run(steady(args, expected))
        if "throughput" in args.figures:
            throughput(args, expected, result)
    except Exception as exc:  # report what was measured, and what broke
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"[:300]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
