"""Benchmark history: what change detection reads of a stored run, and what it writes back."""

from __future__ import annotations

from statistics import median
from typing import Any

from neuronlab_core import fingerprint

from orchestrator.domain.detection import MAD_TO_SIGMA, Change, Run

# Runs of a series that change detection looks at (the current segment and the changes before it)
WINDOW = 60


def measures(throughput: float, latency_ms: dict[str, Any]) -> dict[str, float]:
    return {"throughput": float(throughput), "p50_ms": float(latency_ms["p50"]), "p99_ms": float(latency_ms["p99"])}


# The verdict of a run whose outputs differ from the CPU reference: a regression, never a baseline
INCORRECT = "incorrect"


def run_from_item(item: dict[str, Any]) -> Run:
    """A stored run (the benchmarks table's item, as BenchmarkStore.series_window projects it)."""
    return Run(key=item["runKey"], values=measures(item["throughput"], item["latency_ms"]),
               fingerprint=fingerprint.of(item), change_point="changePoint" in item)


def change_record(change: Change, confirmed_by: str) -> dict[str, Any]:
    """A confirmed change as the benchmarks table keeps it (on its first run, and in the regressions list)."""
    return {"measure": change.measure, "firstRun": change.first, "before": round(change.before, 6),
            "after": round(change.after, 6), "change": round(change.change, 6), "regression": change.regression,
            "confirmedBy": confirmed_by, "fingerprintChanges": change.fingerprint_changes}


def correctness_record(run_key: str, correctness: dict[str, Any], before: Run | None,
                       after: Run) -> dict[str, Any]:
    """A run whose outputs differ from the CPU reference, as the regressions list keeps it: always a regression,
    confirmed by itself, with what changed since the series' last correct run."""
    return {"measure": "correctness", "firstRun": run_key, "regression": True, "confirmedBy": run_key,
            "maxAbsDiff": correctness["max_abs_diff"], "tolerance": correctness["tolerance"],
            "classesAgree": correctness["classes_agree"],
            "fingerprintChanges": fingerprint.changes(before.fingerprint, after.fingerprint) if before else {}}


def level(segment: list[Run]) -> dict[str, Any]:
    """Where a configuration stands now: the medians of its current segment, the throughput's spread (relative
    MAD, as a standard deviation) and how many runs they rest on."""
    throughputs = [r.values["throughput"] for r in segment]
    center = median(throughputs)
    spread = MAD_TO_SIGMA * median(abs(t - center) for t in throughputs) / center if center else 0.0
    return {"runs": len(segment), "throughput": round(center, 6), "throughputSpread": round(spread, 6),
            **{m: round(median(r.values[m] for r in segment), 6) for m in ("p50_ms", "p99_ms")},
            "since": segment[0].key, "lastRun": segment[-1].key}
