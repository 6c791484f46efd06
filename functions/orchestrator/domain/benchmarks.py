"""Benchmark history rules: the regression verdict."""

from __future__ import annotations

from statistics import median
from typing import Literal

Verdict = Literal["baseline", "ok", "regression", "improvement"]

REGRESSION_RATIO = 0.9
IMPROVEMENT_RATIO = 1.1
HISTORY_WINDOW = 10


def verdict(throughput: float, previous: list[float]) -> tuple[Verdict, float | None]:
    """Compare a run with the median of the series' last runs; returns the verdict and the ratio."""
    history = previous[-HISTORY_WINDOW:]
    if not history:
        return "baseline", None
    ratio = throughput / median(history)
    if ratio < REGRESSION_RATIO:
        return "regression", ratio
    if ratio > IMPROVEMENT_RATIO:
        return "improvement", ratio
    return "ok", ratio
