"""Benchmark history analysis: is a new run suspect, and where did its series change?

Two tiers, as the tools people trust do it (conbench's lookback z-score, asv's step detection, Otava's change
points):

- *suspect*, on every run and at once: the run against its series' current segment (the runs since the last
  change point), by median and MAD with a Student-t prediction bound, and a minimum relative change. Noise-aware
  (a noisy series gets a wide bound), robust (one outlier in the segment moves neither median nor MAD), and it
  keeps working after a lasting regression, since a change point starts a new segment.
- *confirmed*: change points over the series by a penalised piecewise-constant fit (ruptures' PELT on the
  series scaled to its noise), once MIN_AFTER runs follow the change: a lasting shift, never one outlier, and
  slow drift too once it adds up. The first run of the new segment is the first bad run.

Why ruptures: maintained, and it needs only numpy and scipy. Apache Otava (E-divisive means with a significance
test) pins numpy 2.2 and brings BigQuery, Postgres and Slack clients into the function.

numpy, scipy and ruptures load on first use (StoreMetrics only): the other functions never pay for them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from statistics import fmean, median
from typing import Literal

from neuronlab_core import fingerprint

Verdict = Literal["baseline", "ok", "suspect", "improvement"]


@dataclass(frozen=True)
class Measure:
    name: str
    higher_is_better: bool


MEASURES = (Measure("throughput", True), Measure("p50_ms", False), Measure("p99_ms", False))

MIN_SEGMENT = 5  # runs a segment needs before its bound means anything
CONFIDENCE = 0.99  # of the two-sided prediction interval for one new run
MIN_CHANGE = 0.05  # relative changes smaller than this are not reported, however significant
NOISE_FLOOR = 0.005  # relative: a series of identical runs does not make every wiggle significant
MIN_AFTER = 3  # runs after a change point before it is confirmed (and the shortest segment)
# PELT's penalty, x log(n), on the series scaled to unit noise; tuned with bench/detection.py (figures there)
PENALTY = 2.5
PENALTY_MIN_RUNS = 30  # a short series is penalised as one of 30 runs: few runs make no change point
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Run:
    """What detection needs of a stored run, oldest first in a series."""

    key: str
    values: dict[str, float]
    fingerprint: dict[str, str] = field(default_factory=dict)
    change_point: bool = False  # already marked as the first run of a confirmed change


@dataclass(frozen=True)
class Suspect:
    measure: str
    value: float
    center: float  # the segment's median
    bound: float  # the prediction bound the value crossed
    change: float  # value / center - 1
    regression: bool


@dataclass(frozen=True)
class Change:
    """A confirmed change point: `first` is the first run of the new segment."""

    measure: str
    first: str
    before: float  # mean of the segment before
    after: float  # mean of the segment from `first`
    change: float  # after / before - 1
    regression: bool
    fingerprint_changes: dict[str, list[str | None]]  # what differs from the run before `first`: [before, after]


@dataclass(frozen=True)
class Analysis:
    verdict: Verdict
    suspects: list[Suspect]
    confirmed: list[Change]  # newly confirmed by this run
    segment_runs: int  # runs in the current segment before this one
    centers: dict[str, float]  # each measure's median over them
    current: list[Run]  # the segment this run belongs to now, itself included (a change it confirms starts it)


def _worse(change: float, measure: Measure) -> bool:
    return change < 0 if measure.higher_is_better else change > 0


def suspect(segment: Sequence[float], value: float, measure: Measure) -> Suspect | None:
    """The run against the segment's median and MAD, with a Student-t prediction bound for one new run."""
    from scipy.stats import t

    n = len(segment)
    if n < MIN_SEGMENT:
        return None
    center = median(segment)
    spread = MAD_TO_SIGMA * median(abs(x - center) for x in segment)
    scale = max(spread, abs(center) * NOISE_FLOOR)
    half_width = float(t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * scale * math.sqrt(1 + 1 / n)
    change = value / center - 1 if center else 0.0
    if abs(value - center) <= half_width or abs(change) < MIN_CHANGE:
        return None
    bound = center - half_width if value < center else center + half_width
    return Suspect(measure.name, value, center, bound, change, _worse(change, measure))


def change_points(values: Sequence[float]) -> list[int]:
    """Indices where a new segment starts: PELT on the series scaled to unit noise, the noise estimated from
    successive differences (which a step barely moves), changes under MIN_CHANGE dropped. The cost is l1 (about
    each segment's median): one outlier costs the same in any segment, so it never buys a change point."""
    import numpy as np
    import ruptures

    n = len(values)
    if n < 2 * MIN_AFTER or min(values) == max(values):
        return []
    series = np.asarray(values, dtype=float)
    noise = MAD_TO_SIGMA * float(np.median(np.abs(np.diff(series)))) / math.sqrt(2)
    # a floor relative to the level, and an absolute one for a series at 0 (a measurement can be 0)
    noise = max(noise, abs(float(np.median(series))) * NOISE_FLOOR, float(np.ptp(series)) * 1e-6)
    ends = ruptures.Pelt(model="l1", min_size=MIN_AFTER, jump=1).fit((series / noise).reshape(-1, 1)).predict(
        pen=PENALTY * math.log(max(n, PENALTY_MIN_RUNS)))
    starts = [0, *ends[:-1]]
    kept = []
    for i in range(1, len(starts)):
        before, after = values[starts[i - 1]:starts[i]], values[starts[i]:ends[i]]
        first = values[starts[i]]
        # PELT's shortest segment may take in the last run of the old level: not the change's first run yet
        on_new_side = abs(first - median(after)) < abs(first - median(before))
        if on_new_side and fmean(before) and abs(fmean(after) / fmean(before) - 1) >= MIN_CHANGE:
            kept.append(starts[i])
    return kept


def analyse(history: Sequence[Run], run: Run) -> Analysis:
    """`run` against its series' `history` (oldest first): its verdict, and the change points it confirms."""
    runs = [*history, run]
    marked = [i for i, r in enumerate(runs) if r.change_point]
    segment_start = max(marked, default=0)
    confirmed: list[Change] = []
    for measure in MEASURES:
        values = [r.values.get(measure.name) for r in runs]
        if any(v is None for v in values):
            continue
        series = [float(v) for v in values if v is not None]
        starts = change_points(series)
        bounds = [0, *starts, len(series)]
        for i, start in enumerate(starts, start=1):
            segment_start = max(segment_start, start)
            # PELT may place a change a run or two differently as runs arrive: one change, marked once
            if any(abs(start - m) < MIN_AFTER for m in marked) or any(c.first == runs[start].key for c in confirmed):
                continue
            before = fmean(series[bounds[i - 1]:start])
            after = fmean(series[start:bounds[i + 1]])
            change = after / before - 1
            confirmed.append(Change(measure.name, runs[start].key, before, after, change, _worse(change, measure),
                                    fingerprint.changes(runs[start - 1].fingerprint, runs[start].fingerprint)))
    segment = runs[segment_start:-1]
    suspects = [s for m in MEASURES if m.name in run.values and all(m.name in r.values for r in segment)
                and (s := suspect([r.values[m.name] for r in segment], run.values[m.name], m))]
    verdict: Verdict
    if len(segment) < MIN_SEGMENT:
        verdict = "baseline"
    elif any(s.regression for s in suspects):
        verdict = "suspect"
    elif suspects:
        verdict = "improvement"
    else:
        verdict = "ok"
    centers = {m.name: median(r.values[m.name] for r in segment) for m in MEASURES
               if segment and all(m.name in r.values for r in segment)}
    return Analysis(verdict, suspects, confirmed, len(segment), centers, runs[segment_start:])


def replay(runs: Sequence[Run]) -> list[tuple[int, Analysis]]:
    """Each run analysed against those before it, as they arrived (a confirmed change marked on its first run):
    what StoreMetrics would have said of each. Returns (index, analysis) for every run."""
    seen: list[Run] = []
    results = []
    for i, run in enumerate(runs):
        analysis = analyse(seen, run)
        marks = {c.first for c in analysis.confirmed}
        seen = [replace(r, change_point=r.change_point or r.key in marks) for r in [*seen, run]]
        results.append((i, analysis))
    return results
