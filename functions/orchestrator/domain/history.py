"""Benchmark history: record a run, from the workflow or imported, with its verdict and the changes it confirms."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from neuronlab_core import instance_types
from neuronlab_core.instance_types import cost_per_million

from orchestrator.adapters import events
from orchestrator.adapters.dynamodb import BenchmarkStore
from orchestrator.domain import benchmarks, detection
from orchestrator.errors import BenchmarkFailed, InvalidRequest
from orchestrator.models.workflow import Stored
from orchestrator.settings import settings

if TYPE_CHECKING:
    from neuronlab_core.benchmark import BenchmarkResult

# An imported result is one harness JSON document; the harness writes a few KB
MAX_IMPORT_BYTES = 256 * 1024


def record(run: BenchmarkResult, only_new: bool = False, **annotations: Any) -> Stored:
    """Store `run` with its cost, its verdict against its series, and the change points it confirms.
    `only_new`: refuse a run already in the history (AlreadyRecorded) instead of replacing it."""
    if run.correctness is not None and not run.correctness.passed:
        raise BenchmarkFailed(
            f"outputs differ from the CPU reference: max |diff| {run.correctness.max_abs_diff:.3g} > "
            f"{run.correctness.tolerance:.3g} or classes disagree")
    store = BenchmarkStore(settings().benchmarks_table)
    run_key = f"{run.started_at.isoformat()}#{run.run_id}"
    window = store.series_window(run.series, run_key, run.scenario, benchmarks.WINDOW)
    analysis = detection.analyse([benchmarks.run_from_item(i) for i in window], detection.Run(
        run_key, benchmarks.measures(run.throughput, run.latency_ms.model_dump()),
        benchmarks.fingerprint(run.versions, run.image_digest)))
    if run.cost_per_million_usd is None:
        run.cost_per_million_usd = _price(run, run.throughput)
    center = analysis.centers.get("throughput")
    store.put({**run.model_dump(mode="json"), **annotations, "series": run.series, "runKey": run_key,
               "verdict": analysis.verdict, "ratioToHistory": round(run.throughput / center, 6) if center else None,
               "suspects": [asdict(s) for s in analysis.suspects] or None}, only_new=only_new)
    for change in analysis.confirmed:
        _record_change(store, run, change, run_key)
    _keep_comparison_current(store, run, benchmarks.level(analysis.current))
    return Stored(series=run.series, run_key=run_key, verdict=analysis.verdict,
                  confirmed=[c.first for c in analysis.confirmed])


def _price(run: BenchmarkResult, throughput: float) -> float | None:
    """USD per million inferences at `throughput` on the run's instance type; none for a CPU run (LocalCloud's is
    not priced as the accelerator of the instance type it is labelled with) or a type outside the table."""
    if run.backend == "cpu" or run.instance_type not in instance_types.supported():
        return None
    hourly = instance_types.lookup(run.instance_type).hourly_usd()
    return None if hourly is None else cost_per_million(hourly, throughput)


def _record_change(store: BenchmarkStore, run: BenchmarkResult, change: detection.Change, confirmed_by: str) -> None:
    """A confirmed change: marked on its first run (a new segment starts there); a regression also joins the
    regressions list and goes to EventBridge as BenchmarkRegression."""
    change_item = benchmarks.change_record(change, confirmed_by)
    store.mark_change(run.series, change.first, change_item)
    if not change.regression:
        return
    # the run's identity nested, so that the item joins no index of runs (byModel, byEnvironment)
    store.put_regression({**change_item, "runKey": f"{change.first}#{change.measure}", "run": {
        "series": run.series, "model": run.model, "instance_type": run.instance_type, "backend": run.backend,
        "scenario": run.scenario, "environment": run.environment}})
    events.publish("BenchmarkRegression", {**change_item, "series": run.series, "scenario": run.scenario})


def _keep_comparison_current(store: BenchmarkStore, run: BenchmarkResult, now: dict[str, Any]) -> None:
    """The model's comparison across instance types: one item per instance type x backend x scenario, replaced by
    every run with its configuration's current level and cost per million (none for a CPU run)."""
    cost = _price(run, now["throughput"])
    store.put_comparison(run.model, f"{run.instance_type}#{run.backend}#{run.scenario}", {
        **now, "model": run.model, "instance_type": run.instance_type, "backend": run.backend,
        "scenario": run.scenario, "cost_per_million_usd": round(cost, 6) if cost is not None else None})


def comparison(model: str) -> list[dict[str, Any]]:
    """A model on every instance type, backend and scenario it ran on, cheapest per million inferences first."""
    items = [{"cost_per_million_usd": None, **i} for i in BenchmarkStore(settings().benchmarks_table).comparison(model)]
    return sorted(items, key=lambda i: (i["cost_per_million_usd"] is None, i["cost_per_million_usd"] or 0))


def import_run(run: BenchmarkResult, size: int, caller: str, may_use_environment: Any) -> Stored:
    """A result in the harness's schema, made by hand, elsewhere or before this deployment: size-limited,
    recorded with who imported it, and judged like a workflow's run. An environment it names must be the
    caller's (`may_use_environment(name)` raises otherwise); the environment's record is not changed."""
    if size > MAX_IMPORT_BYTES:
        raise InvalidRequest(f"body: {size} bytes; an imported result is at most {MAX_IMPORT_BYTES}")
    if run.environment:
        may_use_environment(run.environment)
    return record(run, only_new=True, importedBy=caller)
