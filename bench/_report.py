"""Tables and goal verdicts of bench_checks.py, from the JSON its helper processes print."""

from __future__ import annotations

import argparse
import itertools
from typing import Any

Row = dict[str, Any]
TARGET_RATE = 2000.0
TARGET_KB = 10.0
FIRST_INTERVAL_S = 30.0


def _spread(stat: Row, fmt: str = "{:.0f}") -> str:
    return f"{fmt.format(stat['median'])} ({fmt.format(stat['min'])}–{fmt.format(stat['max'])})"


def _clients(results: list[Row], part: str = "") -> list[tuple[int, Row]]:
    return [
        (r["cameras"], r["client"])
        for r in results
        if r.get("client") and (not part or r["client"].get(part))
    ]


def _tally(tally: Row) -> str:
    states = ", ".join(f"{k} {v}" for k, v in sorted(tally["states"].items()))
    wrong = "; ".join(tally["unexpected_sample"])
    return f"{states}; {tally['unexpected']} not as the faults imply" + (
        f" (e.g. {wrong})" if wrong else ""
    )


def throughput_table(results: list[Row], repeat: int) -> None:
    print(
        f"\n1. Cheap-check throughput: every camera once through Checker.check "
        f"(medians of {repeat} passes after a warm-up pass; min–max)"
    )
    head = f"{'cameras':>8} {'loop':<8}{'cameras/s, all':>20}{'sustained/s':>20}"
    head += f"{'client CPU ms/check':>22}{'sim CPU ms':>11}{'1-core cap/s':>13}{'peak fds':>9}"
    head += f"{'others %':>9}"
    print(head)
    for n, c in _clients(results, "throughput"):
        for loop, t in c["throughput"].items():
            cpu = t["cpu_ms_per_check"]
            print(
                f"{n:>8,} {loop:<8}{_spread(t['rate']):>20}{_spread(t['sustained_rate']):>20}"
                f"{_spread(cpu, '{:.3f}'):>22}{t['sim_cpu_ms_per_check']['median']:>11.3f}"
                f"{1000 / cpu['median']:>13,.0f}{t['peak_fds']:>9,}"
                f"{t['others_pct']['median']:>9.0f}"
            )
        for loop, cold in c["cold"].items():
            print(
                f"{'':>8} {loop:<8}first pass (Digest challenge on every camera): "
                f"{cold['sustained_rate']:,.0f}/s sustained, "
                f"{cold['cpu_ms_per_check']:.3f} ms CPU/check"
            )
        for loop, tally in c["tally"].items():
            print(f"{'':>8} {loop:<8}first pass: {_tally(tally)}")
        bound = next(iter(c["throughput"].values()))["deadline_bound"]
        print(f"{'':>8} {bound} checks ran into a deadline (blackhole): left out of 'sustained'")
    print(
        "  all = N / wall until the last check (blackhole cameras end at their deadlines, "
        "3 s per layer); sustained = checks that did not hit a deadline / time to the last of "
        "them; 1-core cap = 1000 / client CPU ms; others % = CPU (% of one core) taken by "
        "other processes on the machine meanwhile (noise)."
    )


def monitor_table(results: list[Row]) -> None:
    print("\n2. Full pipeline through Monitor (scheduler, verdict, tracker, batched SQLite writes)")
    print(
        f"{'cameras':>8}{'load s':>8}{'first state p50/p95/max s':>27}{'≤ 30 s':>8}"
        f"{'last start s':>13}{'CPU %':>7}{'others %':>9}"
    )
    for n, c in _clients(results):
        f = c.get("first")
        if f:
            firsts = "/".join(
                "—" if f[k] is None else f"{f[k]:.1f}"
                for k in ("first_p50_s", "first_p95_s", "first_max_s")
            )
            print(
                f"{n:>8,}{f['load_s']:>8.2f}{firsts:>27}{f['within_interval']:>8,}"
                f"{f['last_first_start_s']:>13.1f}{f['cpu_pct']:>7.1f}{f['others_pct']:>9.0f}"
            )
            print(f"{'':>8} states: {_tally(f['tally'])}")
    print(
        "  probe.interval_s 30; times from Monitor.run(); last start = the last camera's first "
        "check began (its phase); its state follows one check later (a blackhole: 2 × 3 s)."
    )
    print(
        f"\n{'cameras':>8}{'interval s':>11}{'demanded/s':>11}{'achieved/s':>11}{'CPU %':>7}"
        f"{'sim CPU %':>10}{'CPU ms/check':>13}{'late p50/p99/max s':>20}{'in flight':>10}"
        f"{'fds':>7}{'others %':>9}"
    )
    for n, c in _clients(results):
        s = c.get("steady")
        if s:
            late = f"{s['late_p50_s']:.2f}/{s['late_p99_s']:.2f}/{s['late_max_s']:.2f}"
            print(
                f"{n:>8,}{s['interval_s']:>11.2f}{s['demanded']:>11,.0f}{s['achieved']:>11,.0f}"
                f"{s['cpu_pct']:>7.1f}{s['sim_cpu_pct']:>10.1f}{s['cpu_ms_per_check']:>13.3f}"
                f"{late:>20}{s['peak_in_flight']:>10,}{s['peak_fds']:>7,}{s['others_pct']:>9.0f}"
            )
            print(f"{'':>8} states: {_tally(s['tally'])}")
    print(
        "  steady state: interval = cameras / 2,000 (at least 1 s; timeout 0.8 × interval when "
        "under 3 s), measured over max(2 intervals, 10 s) after the first; late = a check's "
        "start after the time its previous check asked for. Demand is a little under cameras "
        "/ interval: each camera's next check is due one interval after its last one ended, "
        "and offline and auth-failed cameras back off."
    )


def memory_table(results: list[Row]) -> list[float]:
    print("\n3. Memory (VmRSS after gc.collect(); the Monitor with every camera, one round done)")
    print(
        f"{'cameras':>8}{'base MiB':>10}{'+store MiB':>12}{'after MiB':>11}"
        f"{'KB/camera over base':>21}{'KB/camera over store':>22}{'open fds':>10}"
    )
    per: list[float] = []
    points: list[tuple[int, int]] = []
    for n, c in _clients(results):
        f = c.get("first")
        if not f:
            continue
        base, store, after = f["rss_base_kib"], f["rss_store_kib"], f["rss_round_kib"]
        kb = (after - base) * 1.024 / n
        per.append(kb)
        points.append((n, after))
        print(
            f"{n:>8,}{base / 1024:>10.1f}{(store - base) / 1024:>12.1f}{after / 1024:>11.1f}"
            f"{kb:>21.2f}{(after - store) * 1.024 / n:>22.2f}{f['fds_round']:>10,}"
        )
    for (n0, r0), (n1, r1) in itertools.pairwise(points):
        print(f"  marginal {n0:,} → {n1:,} cameras: {(r1 - r0) * 1.024 / (n1 - n0):.2f} KB/camera")
    print(
        "  base: after imports and the adapters (RTSP prober, ONVIF session) are set up; "
        "+store: the store opened; open fds: sockets etc. at the measurement (idle ONVIF "
        "keep-alive connections among them)."
    )
    return per


def baseline_table(results: list[Row]) -> None:
    b = next((r["baselines"] for r in results if r.get("baselines")), None)
    if not b:
        print("\n4. Baselines: not run")
        return
    ours, lean, zeep, ff = b["ours"], b["lean"], b["zeep"], b["ffprobe"]
    best = min(
        (t["cpu_ms_per_check"]["median"] for _, c in _clients(results, "throughput")
         for t in c["throughput"].values()),
        default=ours["cpu_ms"],
    )  # fmt: skip
    rows: list[tuple[str, float, str, str]] = [
        ("ours: Checker.check, one camera at a time (warm)", ours["cpu_ms"],
         f"{ours['wall_ms']:.0f} ms", "1"),
        ("ours: Checker.check, concurrent (table 1, best median)", best, "", ""),
    ]  # fmt: skip
    if "skipped" not in ff:
        rows.append(
            ("ffprobe process per camera (children's CPU)", ff["cpu_ms"],
             f"{ff['wall_s_median']:.2f} s", f"{ff['cpu_ms'] / ours['cpu_ms']:.0f}x, "
             f"{ff['cpu_ms'] / best:.0f}x concurrent")
        )  # fmt: skip
    rows += [
        ("GetSystemDateAndTime: onvif-zeep-async, new ONVIFCamera", zeep["cpu_ms"],
         f"{zeep['wall_ms']:.0f} ms", f"{zeep['cpu_ms'] / lean['new_conn_cpu_ms']:.1f}x"),
        ("GetSystemDateAndTime: ours (lean SOAP), new connection", lean["new_conn_cpu_ms"],
         f"{lean['new_conn_wall_ms']:.0f} ms", "1"),
        ("GetSystemDateAndTime: ours (lean SOAP), keep-alive", lean["keep_alive_cpu_ms"],
         f"{lean['keep_alive_wall_ms']:.0f} ms",
         f"{lean['keep_alive_cpu_ms'] / lean['new_conn_cpu_ms']:.1f}x"),
    ]  # fmt: skip
    print(f"\n4. Baselines on {b['cameras']} healthy simulated cameras (client CPU per camera)")
    print(f"{'what':<58}{'CPU ms':>9}{'1-core cap/s':>13}{'wall':>10}  ratio to ours")
    for what, cpu, wall, ratio in rows:
        print(f"{what:<58}{cpu:>9.2f}{1000 / cpu:>13,.0f}{wall:>10}  {ratio}")
    if "skipped" in ff:
        print(f"  ffprobe baseline skipped: {ff['skipped']}")
    else:
        print(
            f"  ffprobe: {ff['parallel']} at a time, {ff['wall_s_min']:.2f}–{ff['wall_s_max']:.2f}"
            f" s each (after DESCRIBE it waits its 3 s timeout for media the simulator never "
            f"sends); exit codes {ff['exit_codes']}"
        )
    print(
        f"  onvif-zeep-async's first camera (parsing the WSDLs): {zeep['first_cpu_ms']:.0f} ms "
        "CPU. Wall times include the simulated latency; ratio = CPU of the baseline / ours."
    )


def print_report(results: list[Row], args: argparse.Namespace) -> None:
    throughput_table(results, args.repeat)
    monitor_table(results)
    per = memory_table(results)
    baseline_table(results)
    print("\nGoals (DESIGN §9), at the largest fleet measured:")
    clients = _clients(results, "throughput")
    if clients:
        n, c = clients[-1]
        rates = {loop: t["sustained_rate"]["median"] for loop, t in c["throughput"].items()}
        rate = rates["asyncio"]
        extra = f"; with uvloop {rates['uvloop']:,.0f}/s" if "uvloop" in rates else ""
        print(
            f"  cheap-check throughput ≥ {TARGET_RATE:,.0f} cameras/s in one process: "
            f"{'met' if rate >= TARGET_RATE else 'NOT met'} ({rate:,.0f}/s sustained, "
            f"{n:,} cameras{extra})"
        )
    clients = _clients(results, "first")
    if not clients:
        return
    n, c = clients[-1]
    steady = c.get("steady")
    if steady:
        ok = steady["late_p99_s"] < 1.0
        print(
            f"  Monitor keeps up with {steady['demanded']:,.0f} checks/s demanded (p99 start "
            f"lateness < 1 s): {'yes' if ok else 'NO'} ({steady['achieved']:,.0f}/s achieved, "
            f"p99 late {steady['late_p99_s']:.2f} s, {steady['cpu_pct']:.0f} % of a core)"
        )
    if per:
        print(
            f"  memory ≤ {TARGET_KB:.0f} KB per camera: "
            f"{'met' if per[-1] <= TARGET_KB else 'NOT met'} ({per[-1]:.1f} KB, with "
            f"{c['first']['fds_round']:,} descriptors open, most of them idle ONVIF keep-alive "
            f"connections)"
        )
    first = c.get("first")
    if first and first["first_max_s"] is not None:
        ok = (
            first["first_states"] == first["cameras"]
            and first["last_first_start_s"] <= FIRST_INTERVAL_S
        )
        print(
            f"  first state for every camera within one interval (30 s; its first check "
            f"started within it): {'met' if ok else 'NOT met'} ({first['first_states']:,} of "
            f"{first['cameras']:,}; last check start {first['last_first_start_s']:.1f} s, last "
            f"state {first['first_max_s']:.1f} s; {first['within_interval']:,} states by 30 s)"
        )
