"""Two runs side by side (`neuronlab compare RUN_A RUN_B`): per configuration they share, the ratio of each measure
and whether their latency distributions differ, by a Mann-Whitney U test on every latency their histograms hold
(asv compares runs this way); and what differs in where and with what they ran.

numpy and scipy load on first use (the API's AnalysisLayer).
"""

from __future__ import annotations

from typing import Any

from neuronlab_core import fingerprint, latency

from orchestrator.domain import detection

ALPHA = 0.01  # a difference is significant below this p-value
MIN_CHANGE = detection.MIN_CHANGE  # and counts only when the median moved at least this much
# Latencies expanded per histogram for the test; a larger run is thinned evenly (its counts scaled), which keeps
# its distribution and bounds the function's memory whatever an imported histogram claims
MAX_SAMPLES = 200_000
# What the workload is: a difference here means the runs are not of one series
WORKLOAD = ("model", "instance_type", "backend", "batch_size", "sequence_length", "dtype", "parallelism", "scenario")


def configurations(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A stored run's configurations by name: "headline", and "MxT" (M model copies x T threads) per sweep point."""
    found = {"headline": run}
    found.update({f"{p['models']}x{p['threads']}": p for p in run.get("sweep") or []})
    return found


def _samples(histogram: str) -> Any:
    import numpy as np

    values, counts = (np.array(column, dtype=np.int64) for column in zip(*latency.recorded(histogram), strict=True))
    total = int(counts.sum())
    if total > MAX_SAMPLES:
        counts = np.rint(counts * (MAX_SAMPLES / total)).astype(np.int64)
    return np.repeat(values, counts)


def latency_test(base: str, other: str) -> dict[str, Any]:
    """Mann-Whitney U (two-sided) on the two histograms' latencies: its p-value, the probability that a latency of
    `other` exceeds one of `base` (0.5: neither is slower), and the verdict with the change of the median."""
    import numpy as np
    from scipy.stats import mannwhitneyu

    a, b = _samples(base), _samples(other)
    result = mannwhitneyu(b, a, alternative="two-sided", method="asymptotic")
    change = float(np.median(b) / np.median(a) - 1) if np.median(a) else 0.0
    significant = float(result.pvalue) < ALPHA and abs(change) >= MIN_CHANGE
    verdict = ("slower" if change > 0 else "faster") if significant else "same"
    return {"verdict": verdict, "pValue": float(result.pvalue), "p50Change": round(change, 6),
            "probabilityOfSlower": round(float(result.statistic) / (a.size * b.size), 6),
            "samples": [int(a.size), int(b.size)]}


def _ratio(base: float, other: float) -> float | None:
    return round(other / base, 6) if base else None


def compare(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """`other` against `base` (stored runs): ratios are other / base, per configuration both measured."""
    mine, theirs = configurations(base), configurations(other)
    rows = []
    for name in [n for n in mine if n in theirs]:
        a, b = mine[name], theirs[name]
        row: dict[str, Any] = {
            "configuration": name,
            "throughput": [a["throughput"], b["throughput"], _ratio(a["throughput"], b["throughput"])],
            **{p: [a["latency_ms"][p], b["latency_ms"][p], _ratio(a["latency_ms"][p], b["latency_ms"][p])]
               for p in ("p50", "p99")}}
        if a.get("histogram") and b.get("histogram"):
            row["latency"] = latency_test(a["histogram"], b["histogram"])
        else:
            row["latency"] = {"verdict": "unknown", "reason": "a run without latency histograms (stored before "
                                                              "they were kept)"}
        rows.append(row)
    differences = fingerprint.changes({**fingerprint.of(base), **_workload(base)},
                                      {**fingerprint.of(other), **_workload(other)})
    return {"base": _identity(base), "other": _identity(other), "sameSeries": base["series"] == other["series"],
            "configurations": rows, "differences": differences,
            "onlyIn": {"base": [n for n in mine if n not in theirs], "other": [n for n in theirs if n not in mine]}}


def _workload(run: dict[str, Any]) -> dict[str, str]:
    return {k: str(run[k]) for k in WORKLOAD if run.get(k) is not None}


def _identity(run: dict[str, Any]) -> dict[str, Any]:
    return {"runId": run["run_id"], "runKey": run["runKey"], "series": run["series"],
            "environment": run.get("environment"), "verdict": run.get("verdict")}
