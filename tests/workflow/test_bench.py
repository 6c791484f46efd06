"""Benchmark a READY environment on demand: POST /environments/{name}/benchmarks and `neuronlab bench`, on
LocalCloud (the provisioning workflow's benchmark branch, the real harness on CPU)."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from rich.console import Console
from typer.testing import CliRunner

from localcloud.cloud import LocalCloud
from neuronlab import cli
from neuronlab.client import Target
from tests.workflow.conftest import http, start, wait
from tests.workflow.test_faults import entered, reconcile

pytestmark = pytest.mark.slow


def _ready(cloud: LocalCloud, name: str) -> dict:
    _, record, _ = wait(cloud, start(cloud, {"name": name, "benchmark": False})["executionArn"])
    assert record["state"] == "READY", record
    return record


def _sweep(cloud: LocalCloud) -> dict[str, dict]:
    response = boto3.client("lambda").invoke(FunctionName=cloud.function_name("IdleSweepFunction"), Payload=b"{}")
    return {d["environment"]: d for d in json.loads(response["Payload"].read())["decisions"]}


def _as_cli(cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, width: int = 80) -> Console:
    target = Target(api_url=cloud.api.url, region="us-east-1", aws_endpoint=cloud.aws_endpoint,
                    person=cloud.person("you"))
    monkeypatch.setattr(cli, "_target", lambda use_local: target)
    console = Console(width=width, emoji=False, record=True)
    monkeypatch.setattr(cli, "out", console)
    return console


def test_bench_runs_again_one_at_a_time_counts_as_activity_and_joins_the_history(
        cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> None:
    _ready(cloud, "bench")
    # an idle limit the sweep would act on at once, were the benchmark not activity
    boto3.resource("dynamodb").Table(cloud.outputs["EnvironmentsTableName"]).update_item(
        Key={"name": "bench"}, UpdateExpression="SET idlePolicy = :p",
        ExpressionAttributeValues={":p": {"idle_minutes": 1, "grace_minutes": 0, "warning_minutes": 0}})
    api, url = http(cloud), f"{cloud.api.url}/environments/bench/benchmarks"
    first = api.post(url, json={"model": "random:bert-tiny", "seconds": 20}, timeout=30)
    assert first.status_code == 202, first.text
    run = first.json()["benchmarkRun"]
    second = api.post(url, json={"seconds": 1}, timeout=30)
    assert second.status_code == 409 and run["executionArn"] in second.json()["message"]
    entered(run["executionArn"], "RunBenchmark")
    decision = _sweep(cloud)["bench"]
    assert decision["action"] == "keep" and "benchmark running" in decision["reason"], decision
    execution, record, _ = wait(cloud, run["executionArn"])
    assert execution["status"] == "SUCCEEDED" and record["state"] == "READY"
    assert "benchmarkRun" not in record and record["lastBenchmark"]["model"] == "random:bert-tiny"

    console = _as_cli(cloud, monkeypatch)
    result = CliRunner().invoke(cli.app, ["bench", "bench", "--seconds", "1", "--wait"])
    assert result.exit_code == 0, result.output
    text = console.export_text()
    assert "Benchmark random:bert-tiny on inf2.xlarge" in text and "not priced" in text
    for _ in range(2):  # an instance has room for any number of runs in a row (each gives its share back)
        again = api.post(url, json={"seconds": 1}, timeout=30)
        assert again.status_code == 202, again.text
        assert wait(cloud, again.json()["benchmarkRun"]["executionArn"])[0]["status"] == "SUCCEEDED"
    history = api.get(f"{cloud.api.url}/benchmarks", params={"environment": "bench"}, timeout=30).json()
    assert len(history["benchmarks"]) == 4
    assert all(item.get("cost_per_million_usd") is None for item in history["benchmarks"])  # CPU runs


def test_a_benchmark_that_fails_leaves_the_environment_ready(cloud: LocalCloud,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _ready(cloud, "bench-fails")
    console = _as_cli(cloud, monkeypatch)
    # a model the harness cannot load (no such path under /home): the task reports a failure
    result = CliRunner().invoke(cli.app, ["bench", "bench-fails", "--model", "/no/such/model",
                                          "--seconds", "1", "--wait"])
    assert result.exit_code == 1
    assert "benchmark failed" in result.output + console.export_text()
    record = http(cloud).get(f"{cloud.api.url}/environments/bench-fails", timeout=30).json()
    assert record["state"] == "READY" and "benchmarkRun" not in record
    assert record["lastBenchmarkFailure"]["reason"]
    # and the next one may run
    again = http(cloud).post(f"{cloud.api.url}/environments/bench-fails/benchmarks", json={"seconds": 1},
                              timeout=30)
    assert again.status_code == 202
    wait(cloud, again.json()["benchmarkRun"]["executionArn"])


def test_bench_is_refused_on_an_environment_that_is_not_ready(cloud: LocalCloud) -> None:
    _ready(cloud, "bench-stopped")
    assert http(cloud).post(f"{cloud.api.url}/environments/bench-stopped/stop", timeout=60).status_code == 200
    response = http(cloud).post(f"{cloud.api.url}/environments/bench-stopped/benchmarks", json={}, timeout=30)
    assert response.status_code == 409 and "STOPPED" in response.json()["message"]


def test_a_benchmark_whose_workflow_was_aborted_is_released_by_the_reconciler(cloud: LocalCloud) -> None:
    """An aborted execution runs no Catch: without the reconciler its claim would count as activity (keeping an
    idle environment running) until the benchmark deadline, and its task would run on."""
    _ready(cloud, "bench-aborted")
    api = http(cloud)
    run = api.post(f"{cloud.api.url}/environments/bench-aborted/benchmarks", json={"seconds": 120},
                   timeout=30).json()["benchmarkRun"]
    entered(run["executionArn"], "RunBenchmark")
    table = boto3.resource("dynamodb").Table(cloud.outputs["EnvironmentsTableName"])
    deadline = time.monotonic() + 60  # the state is entered before its function has started the task
    while "benchmarkTaskArn" not in (item := table.get_item(Key={"name": "bench-aborted"})["Item"]):
        assert time.monotonic() < deadline, "the benchmark task never started"
        time.sleep(0.2)
    task = item["benchmarkTaskArn"]
    boto3.client("stepfunctions").stop_execution(executionArn=run["executionArn"], cause="aborted by hand")

    corrections = [c for c in reconcile(cloud) if c["environment"] == "bench-aborted"]

    assert [(c["action"], c["evidence"]["task"]) for c in corrections] == [("benchmark released", task)]
    record = table.get_item(Key={"name": "bench-aborted"})["Item"]
    assert record["state"] == "READY" and "benchmarkRun" not in record and "benchmarkTaskToken" not in record
    stopped = boto3.client("ecs").describe_tasks(cluster="neuronlab-bench-aborted", tasks=[task])["tasks"][0]
    assert stopped["lastStatus"] == "STOPPED" and stopped["stoppedReason"] == "its workflow ended"
    assert all(c["environment"] != "bench-aborted" for c in reconcile(cloud))  # settled once
    # and a new benchmark may start
    assert api.post(f"{cloud.api.url}/environments/bench-aborted/benchmarks", json={"seconds": 1},
                    timeout=30).status_code == 202
