"""Benchmark history: what change detection reads of a stored run, and what it writes back."""

from __future__ import annotations

from typing import Any

from orchestrator.domain.detection import Change, Run

# Runs of a series that change detection looks at (the current segment and the changes before it)
WINDOW = 60


def measures(throughput: float, latency_ms: dict[str, Any]) -> dict[str, float]:
    return {"throughput": float(throughput), "p50_ms": float(latency_ms["p50"]), "p99_ms": float(latency_ms["p99"])}


def fingerprint(versions: dict[str, Any] | None, image_digest: str | None) -> dict[str, str]:
    """What a run ran on, beyond its series (model, instance type, backend): software versions and the image.
    A difference at a change point is the first place to look for its cause."""
    return {**{k: str(v) for k, v in (versions or {}).items()}, **({"image": image_digest} if image_digest else {})}


def run_from_item(item: dict[str, Any]) -> Run:
    """A stored run (the benchmarks table's item, as BenchmarkStore.series_window projects it)."""
    return Run(key=item["runKey"], values=measures(item["throughput"], item["latency_ms"]),
               fingerprint=fingerprint(item.get("versions"), item.get("image_digest")),
               change_point="changePoint" in item)


def change_record(change: Change, confirmed_by: str) -> dict[str, Any]:
    """A confirmed change as the benchmarks table keeps it (on its first run, and in the regressions list)."""
    return {"measure": change.measure, "firstRun": change.first, "before": round(change.before, 6),
            "after": round(change.after, 6), "change": round(change.change, 6), "regression": change.regression,
            "confirmedBy": confirmed_by, "fingerprintChanges": change.fingerprint_changes}
