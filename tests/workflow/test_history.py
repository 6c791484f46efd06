"""Benchmark history on LocalCloud: what a regression sends to EventBridge arrives where a rule routes it, and
the CLI reads a run back by its id (the API function with its role, behind the emulated API Gateway)."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from typer.testing import CliRunner

from localcloud.cloud import REGION, LocalCloud
from neuronlab import cli
from neuronlab.client import Target
from tests.workflow.conftest import event_queue, http

pytestmark = pytest.mark.slow


def _run(run_id: str, minute: int, **overrides: object) -> dict:
    at = f"2026-11-20T10:{minute:02d}:00+00:00"
    return {"run_id": run_id, "model": "random:bert-tiny", "backend": "neuron", "instance_type": "inf2.xlarge",
            "batch_size": 1, "sequence_length": 128, "warmup": 8, "duration_s": 10.0, "inferences": 1000,
            "throughput": 100.0, "latency_ms": {"p50": 1.0, "p90": 1.1, "p95": 1.2, "p99": 1.3, "p999": 1.5},
            "versions": {"neuronx-cc": "2.21"}, "started_at": at, "finished_at": at, **overrides}


def test_a_regression_reaches_an_eventbridge_rule_and_runs_are_read_by_id(cloud: LocalCloud,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a rule on the default bus that sends BenchmarkRegression events to a queue
    sqs = boto3.client("sqs")
    queue = event_queue("regressions", {"source": ["neuronlab"], "detail-type": ["BenchmarkRegression"]})
    api = http(cloud, "admin-history")  # an admin's imports join the shared history (anyone else's stay their own)
    # When a correct run and then one with wrong outputs are imported
    assert api.post(f"{cloud.api.url}/benchmarks", json=_run("good-1", 0), timeout=30).status_code == 201
    wrong = _run("wrong-1", 1, versions={"neuronx-cc": "2.22"},
                 correctness={"max_abs_diff": 0.5, "classes_agree": False, "tolerance": 0.05})
    response = api.post(f"{cloud.api.url}/benchmarks", json=wrong, timeout=30)
    assert response.status_code == 201 and response.json()["verdict"] == "incorrect", response.text

    # Then the regression arrives on the queue, naming the measure and what changed
    received: list[dict] = []
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        received = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
    assert received, "no BenchmarkRegression event reached the queue"
    event = json.loads(received[0]["Body"])
    assert event["detail-type"] == "BenchmarkRegression" and event["source"] == "neuronlab"
    assert event["detail"]["measure"] == "correctness"
    assert event["detail"]["fingerprintChanges"] == {"neuronx-cc": ["2.21", "2.22"]}

    # And the CLI reads both runs back by id and compares them
    target = Target(api_url=cloud.api.url, region=REGION, aws_endpoint=cloud.aws_endpoint, person=cloud.person("you"))
    monkeypatch.setattr(cli, "_target", lambda use_local: target)
    result = CliRunner().invoke(cli.app, ["compare", "good-1", "wrong-1", "--json"])
    assert result.exit_code == 0, result.output
    compared = json.loads(result.output)
    assert compared["other"]["verdict"] == "incorrect" and compared["differences"] == {"neuronx-cc": ["2.21", "2.22"]}
