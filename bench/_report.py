"""Timing and the one-line verdict every benchmark prints."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal


@dataclass(frozen=True)
class Ratio:
    """A measured ratio against its target."""

    name: str
    ours: float
    baseline: float
    unit: str
    target: float
    direction: Literal["at_least", "at_most", "added_at_most"]
    """``at_least``: ours/baseline must reach the target (a speed-up); ``at_most``: ours/baseline - 1 must stay
    under it (an overhead); ``added_at_most``: ours - baseline must stay under it (an added cost, in ``unit``)."""
    detail: str = ""
    paired: float | None = None
    """For ``added_at_most`` where both sides ran the same items in the same order: the median of the per-item
    differences (ours - baseline), which is then the value (far less noisy than a difference of medians)."""

    @property
    def value(self) -> float:
        """The speed-up (``ours / baseline``), the overhead (``ours / baseline - 1``) or the added cost."""
        if self.direction == "added_at_most":
            return self.ours - self.baseline if self.paired is None else self.paired
        ratio = self.ours / self.baseline
        return ratio if self.direction == "at_least" else ratio - 1.0

    @property
    def met(self) -> bool:
        """Whether the target is met."""
        return self.value >= self.target if self.direction == "at_least" else self.value <= self.target

    def line(self) -> str:
        """One human-readable line."""
        if self.direction == "at_least":
            shown = f"{self.value:.2f}x (target >= {self.target:g}x)"
        elif self.direction == "added_at_most":
            shown = f"{self.value:+.1f} {self.unit} added, {self.ours / self.baseline:.2f}x (target <= {self.target:g})"
        else:
            shown = f"{self.value:+.1%} overhead (target <= {self.target:.0%})"
        verdict = "MET" if self.met else "NOT MET"
        return f"{self.name}: {shown} {verdict} — ours {self.ours:.4g} vs baseline {self.baseline:.4g} {self.unit}" + (
            f"; {self.detail}" if self.detail else ""
        )


def best_of(repeats: int, run: Callable[[], float]) -> float:
    """Run a timed function several times and keep the fastest (least disturbed) wall time."""
    return min(run() for _ in range(repeats))


def timed(work: Callable[[], object]) -> float:
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def report(ratios: list[Ratio], *, as_json: bool = False) -> None:
    """Print the ratios, one line each (or as JSON)."""
    if as_json:
        print(json.dumps([asdict(r) | {"value": r.value, "met": r.met} for r in ratios], indent=2))
        return
    for ratio in ratios:
        print(ratio.line())
