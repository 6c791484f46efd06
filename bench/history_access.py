"""Benchmark history's access paths at 100k runs (issue 13): every listing is a Query that reads only what it
returns (ScannedCount = Count), measured on the emulation with the template's own table and indexes.

Loads RUNS runs (models x instance types x environments, with their run-id pointers and confirmed regressions)
into moto, then times a page of each listing through the store the API uses (BenchmarkStore), recording what its
Query read.
The latency is moto's, in-process: it scans its own index in Python, so it shows how the emulation scales, not
DynamoDB's latency; ScannedCount against Count is the figure that transfers. For contrast, one model on one
instance type as it was listed before (a FilterExpression over the index of every run) is measured too.

Writes bench-results/history_access.json."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from results import write

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "functions")]
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ.setdefault(key, "bench")

import boto3  # noqa: E402
from boto3.dynamodb.conditions import Attr, Key  # noqa: E402
from moto import mock_aws  # noqa: E402
from neuronlab_core.benchmark import Workload  # noqa: E402

RUNS = 100_000
WORKLOAD = Workload()  # the harness's defaults: batch 1, sequence 128, float32, 1 core per copy, latency
PAGE = 50
MODELS = [f"model-{i:02d}" for i in range(40)]
TYPES = ["inf2.xlarge", "inf2.8xlarge", "inf2.24xlarge", "inf2.48xlarge", "trn1.2xlarge"]
ENVIRONMENTS = [f"env-{i:03d}" for i in range(200)]


def load(table: object) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with table.batch_writer() as batch:  # type: ignore[attr-defined]
        for i in range(RUNS):
            model, instance_type = MODELS[i % len(MODELS)], TYPES[(i // len(MODELS)) % len(TYPES)]
            run_key = f"{(start + timedelta(minutes=5 * i)).isoformat()}#r{i:06d}"
            series = f"{model}#{instance_type}#neuron#{WORKLOAD.key}"
            batch.put_item(Item={"series": series, "runKey": run_key, "kind": "benchmark", "run_id": f"r{i:06d}",
                                 "model": model, "instance_type": instance_type, "backend": "neuron",
                                 "environment": ENVIRONMENTS[i % len(ENVIRONMENTS)], "throughput": 1000 + i % 97})
            # its run-id pointer (BenchmarkStore.put writes both in one transaction)
            batch.put_item(Item={"series": f"#run#r{i:06d}", "runKey": "run", "kind": "run",
                                 "target": {"series": series, "runKey": run_key}})
            if i < len(MODELS) * len(TYPES):  # each model's comparison item per instance type
                batch.put_item(Item={"series": f"#compare#{model}#{WORKLOAD.key}", "runKey": f"{instance_type}#neuron",
                                     "kind": "comparison", "runs": 20, "throughput": 1000, "compared": {
                                         "model": model, "instance_type": instance_type, "backend": "neuron",
                                         "workload": WORKLOAD.model_dump()}})
            if i % 500 == 0:  # a confirmed regression now and then
                batch.put_item(Item={"series": "#regressions", "runKey": f"{run_key}#throughput", "kind": "regression",
                                     "firstRun": run_key, "measure": "throughput"})


def measured(table: object, listing) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """A page of `listing` (a call of BenchmarkStore, as the API makes it), with what its Query read."""
    query = type(table).query
    seen: list[dict[str, int]] = []

    def recording(self: object, **kwargs: object) -> dict:
        response = query(self, **kwargs)
        seen.append({"count": response["Count"], "scanned": response["ScannedCount"]})
        return response

    type(table).query = recording  # type: ignore[method-assign]
    try:
        timings = []
        for _ in range(5):
            began = time.perf_counter()
            items, _ = listing()
            timings.append(time.perf_counter() - began)
    finally:
        type(table).query = query  # type: ignore[method-assign]
    return {**seen[-1], "returned": len(items), "page_ms_median": round(statistics.median(timings) * 1000, 1)}


def main() -> None:
    from orchestrator.adapters import aws
    from orchestrator.adapters.dynamodb import BenchmarkStore
    from tests.helpers import create_tables_from_template

    with mock_aws():
        aws.reset()
        names = create_tables_from_template()
        table = boto3.resource("dynamodb").Table(names["BENCHMARKS_TABLE"])
        began = time.perf_counter()
        load(table)
        loaded_s = time.perf_counter() - began
        last_month = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=5 * RUNS) - timedelta(days=30)).isoformat()
        store = BenchmarkStore(names["BENCHMARKS_TABLE"])
        table = aws.table(names["BENCHMARKS_TABLE"])  # the table object the store queries
        listings = {
            "series (last runs of one model x instance type x backend)": measured(
                table, lambda: store.query(series=f"model-07#inf2.xlarge#neuron#{WORKLOAD.key}", limit=PAGE)),
            "environment": measured(table, lambda: store.query(environment="env-042", limit=PAGE)),
            "model": measured(table, lambda: store.query(model="model-07", limit=PAGE)),
            "every run": measured(table, lambda: store.query(limit=PAGE)),
            "regressions, last 30 days": measured(table, lambda: store.regressions(last_month, limit=PAGE)),
            "a model across instance types": measured(table, lambda: store.comparison("model-07", WORKLOAD.key)),
        }
        lookups = []
        for i in range(5):
            began = time.perf_counter()
            found = store.run(f"r{(i * 19_997) % RUNS:06d}")
            lookups.append(time.perf_counter() - began)
            assert found is not None
        by_id_ms = round(statistics.median(lookups) * 1000, 1)
        # before: one model on one instance type by a FilterExpression over the index of every run
        before = measured(table, lambda: ([], table.query(
            IndexName="byKind", KeyConditionExpression=Key("kind").eq("benchmark"), ScanIndexForward=False,
            FilterExpression=Attr("model").eq("model-07") & Attr("instance_type").eq("inf2.xlarge"), Limit=PAGE)))
    results = {"runs": RUNS, "page": PAGE, "load_s": round(loaded_s, 1), "listings": listings,
               "a run by its id (two GetItem), ms median": by_id_ms,
               "before_model_and_type_by_filter": before,
               "all_listings_read_only_what_they_return": all(v["count"] == v["scanned"] for v in listings.values())}
    out = write("history_access", results)
    print(json.dumps(results, indent=2))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
