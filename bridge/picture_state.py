"""What the picture checks have established about each camera (pure; no I/O).

A picture check every 15 minutes is a sparse look, and one look can mislead: a person in
front of the lens, a bus filling the view, a light switched on.  So a picture fault that was
not reported before is *pending* after its first sighting; the frame tier looks again after
``frames.confirm_s`` and the fault is *confirmed* (reported) only if the second look shows it
too.  A fault that is gone at a look is dropped at once: a good picture is good evidence.

Night: the district's local clock says whether it is night (``night_window``), and the
diagnosis itself tells infrared grey pictures; both keep colour and brightness rules quiet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone


def _minutes(hhmm: str) -> int:
    hours, _, minutes = hhmm.partition(":")
    return int(hours) * 60 + int(minutes)


def night_window(at: datetime, start: str, end: str, utc_offset_h: float) -> bool:
    """Whether ``at`` (aware) falls in the night window ``start``–``end`` (HH:MM, local time
    at ``utc_offset_h``).  The window may wrap midnight (19:00–07:00); equal ends: never."""
    if at.tzinfo is None:
        raise ValueError("night_window needs an aware datetime")
    moment = at.astimezone(timezone(timedelta(hours=utc_offset_h)))
    now_min = moment.hour * 60 + moment.minute
    begin, finish = _minutes(start), _minutes(end)
    if begin == finish:
        return False
    if begin < finish:
        return begin <= now_min < finish
    return now_min >= begin or now_min < finish


@dataclass(slots=True)
class _Camera:
    confirmed: tuple[str, ...] = ()
    pending: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class PictureVerdict:
    """After one look: the faults to report, and whether to look again soon to confirm."""

    faults: tuple[str, ...]
    confirm: bool
    changed: bool


class PictureFaults:
    """Confirmed picture faults per camera, with the two-look rule (``confirm``)."""

    def __init__(self, *, confirm: bool = True) -> None:
        self._confirm = confirm
        self._cameras: dict[str, _Camera] = {}

    def restore(self, camera_id: str, faults: tuple[str, ...]) -> None:
        """Take the faults confirmed before a restart."""
        if faults:
            self._cameras[camera_id] = _Camera(confirmed=tuple(faults))

    def faults(self, camera_id: str) -> tuple[str, ...]:
        """The confirmed picture faults of the camera (empty: none, or never looked)."""
        cam = self._cameras.get(camera_id)
        return cam.confirmed if cam else ()

    def pending(self, camera_id: str) -> frozenset[str]:
        cam = self._cameras.get(camera_id)
        return cam.pending if cam else frozenset()

    def forget(self, camera_id: str) -> None:
        self._cameras.pop(camera_id, None)

    def observe(self, camera_id: str, seen: tuple[str, ...]) -> PictureVerdict:
        """One look saw ``seen`` (ordered codes).  Faults already confirmed or pending from
        the previous look are confirmed; new ones become pending (``confirm``: look again)."""
        cam = self._cameras.setdefault(camera_id, _Camera())
        before = cam.confirmed
        now = set(seen)
        if not self._confirm:
            confirmed = tuple(seen)
            fresh: set[str] = set()
        else:
            settled = set(before) | cam.pending
            confirmed = tuple(code for code in seen if code in settled)
            fresh = now - settled
        cam.confirmed = confirmed
        cam.pending = frozenset(fresh)
        if not cam.confirmed and not cam.pending:
            del self._cameras[camera_id]
        return PictureVerdict(confirmed, bool(fresh), confirmed != before)
