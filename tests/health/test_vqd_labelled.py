"""Acceptance of video quality diagnosis: per-fault precision and recall on a labelled set.

The set (``tests/health/labelled_set.py``) has 32 cameras — real photos shipped with
scikit-image and synthetic streets — each with a healthy picture, one picture per picture
fault (two independent renderers, strengths 0.5-1) and four healthy hard cases (IR night
with and without the night window, light rain, brightness drift, extra OSD text, a swaying
pole, heavy JPEG re-encoding): 480 pictures.  Both precision and recall must be at least 0.9
for every fault.  ``pytest -s`` prints the table; it is also in the test report
(``record_property``) and in the message of a failing assertion.

How a picture counts, for fault F:
- true positive: labelled F, and F among the diagnosed faults;
- false negative: labelled F, F not diagnosed;
- false positive: labelled something else (or healthy), F diagnosed — unless F is listed in
  ``CONSEQUENCES`` for that label: a code that physically follows from the labelled fault.
  Such a code is neither a true nor a false positive.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from bridge.simulator.pictures import PICTURE_KINDS
from tests.health.labelled_set import Case, generate

MIN_PRECISION = 0.9
MIN_RECALL = 0.9

# Codes that may accompany a labelled fault without being wrong.  The diagnosis already
# reports only the root cause where it can (nothing but `black` on a black picture, no blur
# or colour on a badly exposed one), so the list is short:
CONSEQUENCES: dict[str, frozenset[str]] = {
    "black": frozenset({"too_dark"}),  # a black picture is also far too dark
    "no_signal": frozenset({"frozen"}),  # an encoder screen never changes
    "too_dark": frozenset({"noise"}),  # the camera's gain raises noise in the dark
    "occluded": frozenset({"too_dark"}),  # a dark object over most of the lens
    # Another view is judged against this camera's exposure and noise levels.
    "scene_changed": frozenset({"too_dark", "too_bright", "noise"}),
}


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return list(generate())


def _table(cases: list[Case]) -> tuple[str, dict[str, tuple[float, float]]]:
    rows = [f"{'fault':<14} {'n':>3} {'TP':>3} {'FN':>3} {'FP':>3} {'precision':>9} {'recall':>6}"]
    scores: dict[str, tuple[float, float]] = {}
    for fault in PICTURE_KINDS:
        labelled = [c for c in cases if c.label == fault]
        tp = sum(1 for c in labelled if fault in c.faults)
        fp = sum(
            1
            for c in cases
            if c.label != fault
            and fault in c.faults
            and fault not in CONSEQUENCES.get(c.label, frozenset())
        )
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / len(labelled) if labelled else 0.0
        scores[fault] = (precision, recall)
        rows.append(
            f"{fault:<14} {len(labelled):>3} {tp:>3} {len(labelled) - tp:>3} {fp:>3} "
            f"{precision:>9.3f} {recall:>6.3f}"
        )
    healthy = [c for c in cases if c.label == "healthy"]
    alarms = sum(1 for c in healthy if c.faults)
    rows.append(f"healthy pictures with any fault: {alarms} of {len(healthy)}")
    return "\n".join(rows), scores


def _mistakes(cases: list[Case]) -> str:
    lines = []
    for c in cases:
        allowed = CONSEQUENCES.get(c.label, frozenset()) | {c.label}
        if (c.label != "healthy" and c.label not in c.faults) or set(c.faults) - allowed:
            lines.append(
                f"  {c.camera} [{c.label}: {c.case}] -> {list(c.faults)} {c.diagnosis.notes}"
            )
    return "\n".join(lines) or "  none"


def test_the_labelled_set_is_large_and_varied(cases: list[Case]) -> None:
    counts = Counter(c.label for c in cases)
    assert len(cases) >= 300
    assert len({c.camera for c in cases}) >= 30
    assert all(counts[fault] >= 30 for fault in PICTURE_KINDS), counts
    assert counts["healthy"] >= 150
    hard = Counter(c.case.split(",")[0] for c in cases if c.label == "healthy")
    assert hard["IR night"] >= 15, hard
    # Both renderers and several strengths for every fault that has a strength.
    for fault in ("black", "blur", "occluded", "color_cast", "too_dark", "too_bright", "noise"):
        hows = {c.case for c in cases if c.label == fault}
        assert any(h.startswith("simulator") for h in hows), fault
        assert any(h.startswith("second renderer") for h in hows), fault
        assert len({h.rsplit(" ", 1)[-1] for h in hows}) >= 4, (fault, hows)


def test_precision_and_recall_of_every_fault(
    cases: list[Case], record_property: Callable[[str, object], None]
) -> None:
    table, scores = _table(cases)
    report = f"VQD on {len(cases)} labelled pictures\n{table}\nmistakes:\n{_mistakes(cases)}"
    print("\n" + report)
    record_property("vqd_precision_recall", report)
    weak = {f: s for f, s in scores.items() if s[0] < MIN_PRECISION or s[1] < MIN_RECALL}
    assert not weak, report
