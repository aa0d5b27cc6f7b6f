"""The work-order rules: every knob of the engine, with why it has its default (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.workorders.model import Priority


@dataclass(frozen=True, slots=True)
class WorkOrderRules:
    """Knobs of :class:`bridge.workorders.engine.OrderBook` (built from config at the edge)."""

    # A fault must last this long before an order opens: the tracker's hysteresis already
    # needs three bad checks, this adds a few minutes so a reboot or a short power cut
    # (typically 1–2 min for an IPC) never reaches a crew.
    debounce_s: float = 180.0
    # The same fault class coming back within a day of a verified close reopens that order
    # and counts a repeat (返修): maintenance contracts judge a repair by whether it held.
    reopen_window_s: float = 86_400.0
    # M healthy cheap checks after the recovery (or the crew's 修复) before 验收: the same
    # figure as the tracker's ``better_after``, counted afresh so one lucky check is not enough.
    verify_checks: int = 2
    # Verification also needs a fresh healthy picture (the after-evidence).  Off only where
    # the frame tier is disabled: then no picture will ever come and orders would never close.
    verify_needs_picture: bool = True
    # After 修复, how long the camera has to pass verification before the order goes back to
    # 到场: long enough for M checks at a backed-off cadence and one picture look (the frame
    # tier looks every 15 min), short enough that the crew is still nearby.
    verify_timeout_s: float = 1_800.0
    # Deadlines (SLA).  Key locations (重点部位): respond 2 h, repair 24 h, as district
    # 雪亮工程 maintenance contracts commonly write them; others: respond 24 h, repair 48 h.
    respond_key_s: float = 2 * 3600.0
    repair_key_s: float = 24 * 3600.0
    respond_normal_s: float = 24 * 3600.0
    repair_normal_s: float = 48 * 3600.0
    # A flapping camera (the tracker holds its published state) is a fault in itself: one
    # order for the whole flapping spell, never one per flap, and no verification while it
    # flaps.  Off: flapping is ignored and only the held state counts.
    flapping_is_fault: bool = True
    # Order ids carry the district's local date (China Standard Time) so that crews read the
    # day they know; the hash part does not depend on it.
    id_utc_offset_h: float = 8.0

    def __post_init__(self) -> None:
        durations = {
            "debounce_s": self.debounce_s,
            "reopen_window_s": self.reopen_window_s,
            "verify_timeout_s": self.verify_timeout_s,
            "respond_key_s": self.respond_key_s,
            "repair_key_s": self.repair_key_s,
            "respond_normal_s": self.respond_normal_s,
            "repair_normal_s": self.repair_normal_s,
        }
        bad = [name for name, value in durations.items() if value < 0]
        if bad:
            raise ValueError(f"work-order durations must not be negative: {', '.join(bad)}")
        if self.verify_checks < 0:
            raise ValueError("verify_checks must not be negative")

    def deadlines_s(self, priority: Priority) -> tuple[float, float]:
        """(respond, repair) in seconds from the opening, for ``priority``."""
        if priority is Priority.KEY:
            return self.respond_key_s, self.repair_key_s
        return self.respond_normal_s, self.repair_normal_s
