"""Benchmark: memory of closed work orders in the daemon's order book, kept and forgotten.

``--orders`` cameras each go down, get their order after the debounce, come back and are
verified and closed (the real `OrderBook`, a fake clock): the memory the book holds for
them (tracemalloc), then after `OrderBook.prune` with the desk's cut (orders closed more
than `KEEP_CLOSED_S` ago leave memory; the store keeps them).

    .venv/bin/python bench/bench_order_memory.py [--orders 3000]
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc
from datetime import UTC, datetime, timedelta

from bridge.model import CameraState
from bridge.workorder_desk import KEEP_CLOSED_S
from bridge.workorders.engine import OrderBook
from bridge.workorders.rules import WorkOrderRules


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000)
    args = parser.parse_args()
    n = args.orders
    book = OrderBook(WorkOrderRules())
    at = datetime(2026, 1, 1, tzinfo=UTC)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        cam = f"41990100001320{i:06d}"
        book.observe(cam, CameraState.OFFLINE, ("unreachable",), at)
        at += timedelta(minutes=4)
        book.tick(at)
        at += timedelta(minutes=1)
        book.observe(cam, CameraState.ONLINE, (), at)
        book.healthy_check(cam, at)
        book.healthy_check(cam, at + timedelta(seconds=30))
        book.picture(cam, at + timedelta(seconds=40), healthy=True, evidence=f"{cam}/x.jpg")
        at += timedelta(minutes=1)
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - base
    closed = sum(1 for o in book.orders() if not o.is_open)
    gone = book.prune(at + timedelta(seconds=KEEP_CLOSED_S))
    gc.collect()
    after = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    print(f"{closed} closed orders: {kept / 1024:.0f} KiB in the book ({kept // closed} B each)")
    print(f"after the prune ({gone} forgotten): {after / 1024:.0f} KiB ({after // n} B per camera)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
