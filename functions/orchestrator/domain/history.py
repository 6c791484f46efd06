"""Benchmark history: record a run, from the workflow or imported, with its verdict and the changes it confirms."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from neuronlab_core import fingerprint, instance_types
from neuronlab_core.instance_types import cost_per_million

from orchestrator.adapters import events
from orchestrator.adapters.dynamodb import BenchmarkStore
from orchestrator.domain import benchmarks, detection, run_comparison
from orchestrator.errors import InvalidRequest, RunNotFound
from orchestrator.models.workflow import Stored
from orchestrator.settings import settings

if TYPE_CHECKING:
    from neuronlab_core.benchmark import BenchmarkResult, Workload

# An imported result is one harness JSON document; the harness writes a few KB
MAX_IMPORT_BYTES = 256 * 1024


# What an import may influence. An admin's import joins the shared history like a workflow run. Anyone else's is
# kept in the importer's own series (the shared series' key + IMPORTED_BY + the caller's ARN): judged against the
# shared history for its verdict, listed with its importer, and never part of what other runs are judged against,
# never a confirmed change, a regression (list or event) or the model's comparison (README, "Benchmark history").
IMPORTED_BY = "#imported-by#"
# An import's times: no later than now, allowing for the importer's clock
CLOCK_SKEW = timedelta(minutes=5)


def record(run: BenchmarkResult, only_new: bool = False, private_to: str | None = None,
           **annotations: Any) -> Stored:
    """Store `run` with its cost, its verdict against its series, and the change points it confirms.
    `only_new`: refuse a run already in the history (AlreadyRecorded) instead of replacing it. `private_to`: an
    import kept in that caller's own series, which influences nothing shared (IMPORTED_BY).

    A run whose outputs differ from the CPU reference is stored too, as `incorrect`: always a regression, never
    part of what later runs are judged against."""
    store = BenchmarkStore(settings().benchmarks_table)
    shared = private_to is None
    series = run.series if shared else f"{run.series}{IMPORTED_BY}{private_to}"
    run_key = f"{run.started_at.isoformat()}#{run.run_id}"
    item = run.model_dump(mode="json")
    this = detection.Run(run_key, benchmarks.measures(run.throughput, item["latency_ms"]),
                         fingerprint.of(item))
    earlier = [benchmarks.run_from_item(i) for i in store.series_window(run.series, run_key, benchmarks.WINDOW)
               if i.get("verdict") != benchmarks.INCORRECT]
    if run.cost_per_million_usd is None:
        run.cost_per_million_usd = item["cost_per_million_usd"] = _price(run, run.throughput)
    stored = {**item, **annotations, "series": series, "runKey": run_key}
    if run.correctness is not None and not run.correctness.passed:
        store.put({**stored, "verdict": benchmarks.INCORRECT}, only_new=only_new)
        if shared:
            _record_regression(store, run, benchmarks.correctness_record(run_key, item["correctness"],
                                                                         earlier[-1] if earlier else None, this))
        return Stored(series=series, run_key=run_key, verdict=benchmarks.INCORRECT, confirmed=[run_key])
    analysis = detection.analyse(earlier, this)
    center = analysis.centers.get("throughput")
    store.put({**stored, "verdict": analysis.verdict,
               "ratioToHistory": round(run.throughput / center, 6) if center else None,
               "suspects": [asdict(s) for s in analysis.suspects] or None}, only_new=only_new)
    if not shared:
        return Stored(series=series, run_key=run_key, verdict=analysis.verdict, confirmed=[])
    for change in analysis.confirmed:
        change_item = benchmarks.change_record(change, run_key)
        store.mark_change(run.series, change.first, change_item)
        if change.regression:
            _record_regression(store, run, change_item)
    _keep_comparison_current(store, run, benchmarks.level(analysis.current))
    return Stored(series=series, run_key=run_key, verdict=analysis.verdict,
                  confirmed=[c.first for c in analysis.confirmed])


def _price(run: BenchmarkResult, throughput: float) -> float | None:
    """USD per million inferences at `throughput` on the run's instance type (none for a CPU run)."""
    hourly = instance_types.accelerator_hourly_usd(run.instance_type, run.backend)
    return None if hourly is None else cost_per_million(hourly, throughput)


def _record_regression(store: BenchmarkStore, run: BenchmarkResult, change: dict[str, Any]) -> None:
    """A regression (a confirmed change for the worse, or wrong outputs) joins the regressions list and goes to
    EventBridge as BenchmarkRegression."""
    # the run's identity nested, so that the item joins no index of runs (byModel, byEnvironment)
    store.put_regression({**change, "runKey": f"{change['firstRun']}#{change['measure']}", "run": {
        "series": run.series, "model": run.model, "instance_type": run.instance_type, "backend": run.backend,
        "workload": run.workload.model_dump(), "environment": run.environment}})
    events.publish("BenchmarkRegression", {**change, "series": run.series, "scenario": run.scenario})


def _keep_comparison_current(store: BenchmarkStore, run: BenchmarkResult, now: dict[str, Any]) -> None:
    """The model's comparison across instance types for this workload: one item per instance type x backend,
    replaced by every run with its series' current level and cost per million (none for a CPU run)."""
    cost = _price(run, now["throughput"])
    store.put_comparison(run.model, run.workload.key, f"{run.instance_type}#{run.backend}", {
        **now, "model": run.model, "instance_type": run.instance_type, "backend": run.backend,
        "workload": run.workload.model_dump(), "series": run.series,
        "cost_per_million_usd": round(cost, 6) if cost is not None else None})


def comparison(model: str, workload: Workload, limit: int = 50,
               next_token: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """`model` doing `workload` on every instance type and backend it ran on: a page in instance-type order,
    cheapest per million inferences first within it (one page holds them all unless over `limit` types ran it)."""
    items, token = BenchmarkStore(settings().benchmarks_table).comparison(model, workload.key, limit, next_token)
    return instance_types.cheapest_first({"cost_per_million_usd": None, **i} for i in items), token


def import_run(run: BenchmarkResult, size: int, caller: str, may_use_environment: Any, admin: bool) -> Stored:
    """A result in the harness's schema, made by hand, elsewhere or before this deployment: size-limited, on an
    instance type of the table, not from the future, recorded with who imported it and judged like a workflow's
    run. Only an admin's import joins the shared history (IMPORTED_BY). An environment it names must be the
    caller's (`may_use_environment(name)` raises otherwise); the environment's record is not changed."""
    if size > MAX_IMPORT_BYTES:
        raise InvalidRequest(f"body: {size} bytes; an imported result is at most {MAX_IMPORT_BYTES}")
    instance_types.lookup(run.instance_type)  # UnsupportedInstanceType names the types there are
    if run.backend == "cuda":
        raise InvalidRequest(f"backend: cuda runs cannot be on {run.instance_type}; this history keeps the "
                             "instance types NeuronLab runs (neuron, or cpu on one of them)")
    latest = datetime.now(UTC) + CLOCK_SKEW
    for field, moment in (("started_at", run.started_at), ("finished_at", run.finished_at)):
        if moment > latest:
            raise InvalidRequest(f"{field}: {moment.isoformat()} is in the future")
    if run.environment:
        may_use_environment(run.environment)
    return record(run, only_new=True, private_to=None if admin else caller, importedBy=caller)


def run(run_id: str) -> dict[str, Any]:
    """A stored run by its run id; RunNotFound when the history has none."""
    found = BenchmarkStore(settings().benchmarks_table).run(run_id)
    if found is None:
        raise RunNotFound(f"run {run_id!r}: no run with this id in the benchmark history")
    return found


def compare_runs(base_id: str, other_id: str) -> dict[str, Any]:
    """Run `other_id` against run `base_id`: per configuration, ratios and a latency test, and what differs."""
    return run_comparison.compare(run(base_id), run(other_id))
