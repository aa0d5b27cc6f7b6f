"""The scheduler: every camera checked at its own time, within the caps (DESIGN §3).

- Each camera has a due time; the first is its stable phase within the interval (no herd at
  start-up or on the minute); after each check the job says when the next is due (interval,
  backoff, …).
- A global cap on checks in flight and a per-host cap (an NVR with 32 channels is one host,
  and cameras drop connections when asked too much at once).  A check waits for its host's
  slot *before* it takes a global one, so a busy NVR never holds global slots idle.
- Each check has a deadline; a check that overruns it is abandoned and rescheduled.
- One camera's check never delays another's beyond the caps; a failing job is logged and the
  loop goes on.

The scheduler owns its tasks (one TaskGroup); ``run()`` returns only when cancelled.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Job = Callable[[str], Awaitable[float]]  # checks a camera; returns seconds until the next


class Scheduler:
    """Runs ``job(camera_id)`` for every scheduled camera when it is due."""

    def __init__(
        self,
        job: Job,
        *,
        concurrency: int,
        per_host: int,
        deadline_s: float,
        retry_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._job = job
        self._deadline_s = deadline_s
        self._retry_s = retry_s
        self._clock = clock
        self._global = asyncio.Semaphore(concurrency)
        self._per_host = per_host
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self._per_host)
        )
        self._host_of: dict[str, str] = {}
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._wake = asyncio.Event()
        self._draining = False
        self._idle = asyncio.Event()  # set when the last running check ends
        self.in_flight = 0
        self.peak_in_flight = 0
        self.completed = 0

    def schedule(self, camera_id: str, host: str, delay_s: float) -> None:
        """Check ``camera_id`` (at ``host``) in ``delay_s`` seconds; replaces an earlier time."""
        self._host_of[camera_id] = host
        if camera_id in self._running:
            return  # rescheduled when the running check ends
        due = self._clock() + delay_s
        self._due[camera_id] = due
        heapq.heappush(self._heap, (due, camera_id))
        if self._heap[0][1] == camera_id:
            self._wake.set()

    def move(self, camera_id: str, host: str) -> None:
        """The camera now lives at ``host`` (an import changed its address): its next checks
        count against that host's cap.  Its due time stays."""
        if camera_id in self._host_of:
            self._host_of[camera_id] = host

    def recheck(self, camera_id: str) -> bool:
        """Check now (or right after the running check).  False if not scheduled."""
        if camera_id not in self._host_of:
            return False
        if camera_id in self._running:
            self._again.add(camera_id)
        else:
            self.schedule(camera_id, self._host_of[camera_id], 0.0)
        return True

    def remove(self, camera_id: str) -> None:
        """Stop checking ``camera_id`` (a running check finishes and is not rescheduled)."""
        self._host_of.pop(camera_id, None)
        self._due.pop(camera_id, None)
        self._again.discard(camera_id)

    def __len__(self) -> int:
        return len(self._host_of)

    async def drain(self, deadline_s: float) -> int:
        """Start no more checks and wait up to ``deadline_s`` for the running ones to end.
        Returns how many were still running at the deadline (they are then cancelled by the
        caller cancelling ``run``)."""
        self._draining = True
        self._wake.set()
        if self._running:
            self._idle.clear()
            try:
                async with asyncio.timeout(deadline_s):
                    await self._idle.wait()
            except TimeoutError:
                pass
        return len(self._running)

    async def run(self) -> None:
        """Start due checks until cancelled (or, after ``drain``, no more)."""
        async with asyncio.TaskGroup() as tasks:
            while not self._draining:
                now = self._clock()
                while self._heap and self._heap[0][0] <= now:
                    due, camera_id = heapq.heappop(self._heap)
                    if self._due.get(camera_id) != due:
                        continue  # rescheduled or removed since
                    del self._due[camera_id]
                    self._running.add(camera_id)
                    tasks.create_task(self._one(camera_id, due))
                self._wake.clear()
                wait_s = self._heap[0][0] - now if self._heap else None
                try:
                    async with asyncio.timeout(wait_s):
                        await self._wake.wait()
                except TimeoutError:
                    pass

    async def _one(self, camera_id: str, due: float) -> None:
        host = self._host_of.get(camera_id, camera_id)
        delay = self._retry_s
        try:
            async with self._hosts[host], self._global:
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                try:
                    async with asyncio.timeout(self._deadline_s):
                        delay = await self._job(camera_id)
                finally:
                    self.in_flight -= 1
        except TimeoutError:
            log.warning("check of %s overran its %.1f s deadline", camera_id, self._deadline_s)
        except Exception:  # one camera's failure must not stop the others (STYLE 7)
            log.exception("check of %s failed", camera_id)
        finally:
            self.completed += 1
            self._running.discard(camera_id)
            if not self._running:
                self._idle.set()
        if camera_id in self._host_of and not self._draining:
            if camera_id in self._again:
                self._again.discard(camera_id)
                delay = 0.0
            # Counted from when the check was due, not from when it ended: a camera keeps its
            # phase, and the fleet's rate stays cameras ÷ interval however long checks take.
            delay = max(0.0, due + delay - self._clock())
            self.schedule(camera_id, self._host_of[camera_id], delay)
