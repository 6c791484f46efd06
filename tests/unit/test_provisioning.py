"""Workflow steps against moto, one at a time (tests/workflow runs them together through the ASL)."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from orchestrator.adapters import cloudformation, ecr
from orchestrator.adapters.dynamodb import EnvironmentStore
from orchestrator.domain import environments, history, provisioning
from orchestrator.errors import BenchmarkFailed, EnvironmentConflict, ImageNotFound, InvalidRequest
from orchestrator.models.record import EnvironmentRecord, to_item
from orchestrator.models.states import EnvironmentState
from orchestrator.models.workflow import CaughtError, to_json
from orchestrator.settings import settings
from tests.helpers import workflow_state

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/neuronlab"


def _push(tag: str) -> str:
    client = boto3.client("ecr")
    with contextlib.suppress(client.exceptions.RepositoryAlreadyExistsException):
        client.create_repository(repositoryName="neuronlab")
    manifest = json.dumps({"schemaVersion": 2, "config": {"digest": "sha256:" + "a" * 64}, "layers": []})
    return client.put_image(repositoryName="neuronlab", imageManifest=manifest, imageTag=tag,
                            imageManifestMediaType="application/vnd.docker.distribution.manifest.v2+json")[
        "image"]["imageId"]["imageDigest"]


def test_image_resolves_to_its_digest_and_is_deployed_by_digest(tables: dict[str, str]) -> None:
    digest = _push("v1")
    resolved = ecr.resolve(f"{REPO}:v1")
    assert resolved.digest == digest
    assert resolved.pinned_uri == f"{REPO}@{digest}"


def test_missing_tag_and_missing_repository_are_image_not_found(tables: dict[str, str]) -> None:
    _push("v1")
    with pytest.raises(ImageNotFound, match="v2 is not in ECR"):
        ecr.resolve(f"{REPO}:v2")
    with pytest.raises(ImageNotFound, match="RepositoryNotFoundException"):
        ecr.resolve("123456789012.dkr.ecr.us-east-1.amazonaws.com/other:v1")


@pytest.mark.parametrize("uri", ["docker.io/library/python:3", "neuronlab:latest", ""])
def test_non_ecr_image_names_the_field(tables: dict[str, str], uri: str) -> None:
    with pytest.raises(InvalidRequest, match="^image: .* is not an ECR image URI"):
        ecr.resolve(uri)


def _record(name: str, state: str) -> None:
    now = datetime.now(UTC).isoformat()
    EnvironmentStore(settings().environments_table).create(EnvironmentRecord(
        name=name, state=EnvironmentState(state), instance_type="inf2.xlarge", image=REPO, created_at=now,
        updated_at=now))


def _item(name: str) -> dict:
    """The record as the table holds it (camelCase attributes)."""
    return to_item(EnvironmentStore(settings().environments_table).get(name))


def _result(throughput: float, minutes_ago: int, **overrides: object) -> dict:
    started = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {"run_id": f"run{minutes_ago}", "model": "random:bert-tiny", "backend": "neuron",
            "instance_type": "inf2.xlarge", "batch_size": 1, "sequence_length": 128, "warmup": 8, "duration_s": 10.0,
            "inferences": int(throughput * 10), "throughput": throughput,
            "latency_ms": {"p50": 1.0, "p90": 1.1, "p95": 1.2, "p99": 1.3, "p999": 1.5},
            "correctness": {"max_abs_diff": 0.001, "classes_agree": True, "tolerance": 0.05},
            "environment": "demo", "started_at": started.isoformat(), "finished_at": started.isoformat(),
            **overrides}


def test_a_cpu_run_is_not_priced_as_the_accelerator_it_is_labelled_with(tables: dict[str, str]) -> None:
    _record("demo", "READY")
    stored = to_json(provisioning.store_metrics(_result(1500.0, 0, backend="cpu")))
    item = boto3.resource("dynamodb").Table(settings().benchmarks_table).get_item(
        Key={"series": stored["series"], "runKey": stored["runKey"]})["Item"]
    assert item["instance_type"] == "inf2.xlarge" and "cost_per_million_usd" not in item


def test_store_metrics_flags_a_suspect_run_then_confirms_a_lasting_regression(tables: dict[str, str],
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # what goes to EventBridge, recorded here (moto keeps no events a test could read back without a target)
    published: list[tuple[str, dict]] = []
    monkeypatch.setattr(history.events, "publish", lambda kind, detail: published.append((kind, detail)))
    _record("demo", "READY")
    for minutes_ago, throughput in ((90, 2000.0), (80, 2010.0), (70, 1990.0), (60, 2005.0), (50, 1995.0),
                                    (40, 2000.0)):
        provisioning.store_metrics(_result(throughput, minutes_ago))
    stored = to_json(provisioning.store_metrics(_result(1500.0, 30)))
    assert stored["verdict"] == "suspect" and stored["confirmed"] == []
    table = boto3.resource("dynamodb").Table(settings().benchmarks_table)
    item = table.get_item(Key={"series": stored["series"], "runKey": stored["runKey"]})["Item"]
    assert float(item["cost_per_million_usd"]) == pytest.approx(0.7582 / (1500 * 3600) * 1e6, rel=1e-6)
    assert float(item["ratioToHistory"]) == pytest.approx(1500 / 2000)
    assert item["suspects"][0]["measure"] == "throughput" and item["suspects"][0]["regression"] is True
    record = _item("demo")
    assert record["lastBenchmark"]["run_id"] == "run30" and record["lastBenchmark"]["verdict"] == "suspect"

    # When the new level lasts, the change is confirmed, on its first run, once
    provisioning.store_metrics(_result(1510.0, 20))
    third = to_json(provisioning.store_metrics(_result(1490.0, 10)))
    assert third["confirmed"] == [stored["runKey"]]
    first = table.get_item(Key={"series": stored["series"], "runKey": stored["runKey"]})["Item"]["changePoint"]
    assert first["regression"] is True and float(first["change"]) == pytest.approx(-0.25, abs=0.01)
    assert first["confirmedBy"] == third["runKey"]
    assert to_json(provisioning.store_metrics(_result(1505.0, 5)))["confirmed"] == []
    assert [(kind, detail["firstRun"], detail["measure"]) for kind, detail in published] == [
        ("BenchmarkRegression", stored["runKey"], "throughput")]
    listed, _ = environments.regressions(datetime.now(UTC) - timedelta(days=30), 50, None)
    assert [(r["firstRun"], r["measure"], r["run"]["series"]) for r in listed] == [
        (stored["runKey"], "throughput", stored["series"])]


def test_incorrect_outputs_are_a_regression_and_never_a_baseline(tables: dict[str, str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    published: list[tuple[str, dict]] = []
    monkeypatch.setattr(history.events, "publish", lambda kind, detail: published.append((kind, detail)))
    _record("demo", "READY")
    for minutes_ago in (90, 80, 70, 60, 50):
        provisioning.store_metrics(_result(2000.0, minutes_ago, versions={"neuronx-cc": "2.15"}))
    # a new compiler makes it fast and wrong
    bad = _result(4000.0, 40, versions={"neuronx-cc": "2.16"},
                  correctness={"max_abs_diff": 0.9, "classes_agree": False, "tolerance": 0.05})
    with pytest.raises(BenchmarkFailed, match="differ from the CPU reference.*run40 is in the history as a regr"):
        provisioning.store_metrics(bad)
    table = boto3.resource("dynamodb").Table(settings().benchmarks_table)
    runs = {i["run_id"]: i for i in table.scan()["Items"] if i.get("kind") == "benchmark"}
    assert runs["run40"]["verdict"] == "incorrect"
    listed, _ = environments.regressions(datetime.now(UTC) - timedelta(days=1), 50, None)
    assert [(r["measure"], r["firstRun"], r["fingerprintChanges"]) for r in listed] == [
        ("correctness", runs["run40"]["runKey"], {"neuronx-cc": ["2.15", "2.16"]})]
    assert [(kind, detail["measure"]) for kind, detail in published] == [("BenchmarkRegression", "correctness")]
    assert _item("demo")["lastBenchmark"]["run_id"] == "run50"  # the record keeps the last correct run
    # the next correct run is judged against the correct ones only
    after = to_json(provisioning.store_metrics(_result(2000.0, 30, versions={"neuronx-cc": "2.15"})))
    item = table.get_item(Key={"series": after["series"], "runKey": after["runKey"]})["Item"]
    assert after["verdict"] == "ok" and float(item["ratioToHistory"]) == pytest.approx(1.0)


def test_a_run_cannot_replace_another_environments_run_or_take_its_run_id(tables: dict[str, str]) -> None:
    from orchestrator.adapters.dynamodb import BenchmarkStore
    from orchestrator.errors import AlreadyRecorded

    store = BenchmarkStore(settings().benchmarks_table)
    mine = {"series": "s", "runKey": "2026-11-27T00#r1", "run_id": "r1", "environment": "alpha", "throughput": 1}
    store.put(mine)
    store.put({**mine, "throughput": 2})  # the same environment may store its run again (a retried step)
    with pytest.raises(AlreadyRecorded):
        store.put({**mine, "environment": "beta", "throughput": 3})
    with pytest.raises(AlreadyRecorded, match="names another run"):
        store.put({**mine, "runKey": "2026-11-27T01#r1", "environment": "beta"})
    assert store.run("r1") == {**mine, "throughput": 2, "kind": "benchmark"}
    assert store.run("r2") is None


def test_transitions_are_conditional(tables: dict[str, str]) -> None:
    _record("demo", "FAILED")
    with pytest.raises(EnvironmentConflict, match="'demo' is FAILED; expected PROVISIONING"):
        provisioning.mark_ready("demo", "http://x/")


def test_mark_failed_keeps_the_reason_from_a_lambda_error(tables: dict[str, str]) -> None:
    _record("demo", "PROVISIONING")
    cause = json.dumps({"errorType": "ImageNotFound", "errorMessage": "image x is not in ECR"})
    provisioning.mark_failed("demo", CaughtError(error="ImageNotFound", cause=cause))
    record = _item("demo")
    assert record["state"] == "FAILED"
    assert record["failureReason"] == "ImageNotFound: image x is not in ECR"
    assert record["capacity"] == "no instances had been launched"  # nothing to release before the stack
    # the workflow retries the step: marking it FAILED again is fine
    provisioning.mark_failed("demo", CaughtError(error="ImageNotFound", cause=cause))


@pytest.mark.parametrize("state", ["STOPPING", "STOPPED", "DELETING", "DELETED"])
def test_mark_failed_leaves_a_stop_or_delete_to_settle_the_record(tables: dict[str, str], state: str) -> None:
    _record("demo", state)
    outcome = provisioning.mark_failed("demo", CaughtError(error="StackFailed", cause="gone"))
    assert outcome.state == state
    assert _item("demo")["state"] == state


def test_stopped_task_event_for_an_unknown_task_is_ignored(tables: dict[str, str]) -> None:
    _record("demo", "READY")
    outcome = provisioning.benchmark_task_stopped({"startedBy": "demo", "taskArn": "arn:other", "containers": []})
    assert outcome["action"] == "ignored"


def test_stack_failure_reason_is_the_first_failed_resource(aws_env: None) -> None:
    from moto import mock_aws

    from orchestrator.adapters import aws

    with mock_aws():
        aws.reset()
        client = boto3.client("cloudformation")
        client.create_stack(StackName="neuronlab-env-x", TemplateBody=json.dumps(
            {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}))
        assert cloudformation.describe("neuronlab-env-x").succeeded
        assert cloudformation.describe("neuronlab-env-missing").status is None
        assert "without a resource failure event" in cloudformation.failure_reason("neuronlab-env-x")
        aws.reset()


def test_a_run_on_a_host_outside_the_price_table_has_no_cost(tables: dict[str, str]) -> None:
    _record("demo", "READY")
    stored = to_json(provisioning.store_metrics(_result(100.0, 0, instance_type="laptop")))
    item = boto3.resource("dynamodb").Table(settings().benchmarks_table).get_item(
        Key={"series": stored["series"], "runKey": stored["runKey"]})["Item"]
    assert "cost_per_million_usd" not in item and stored["verdict"] == "baseline"


def test_runs_are_compared_only_with_the_same_scenario(tables: dict[str, str]) -> None:
    _record("demo", "READY")
    for minutes_ago in (30, 20, 10):
        provisioning.store_metrics(_result(5000.0, minutes_ago, scenario="throughput"))
    # a latency run is slower by nature: against throughput runs it would look like a regression
    assert provisioning.store_metrics(_result(2000.0, 0, scenario="latency")).verdict == "baseline"


def test_a_stack_that_vanished_is_a_named_failure(tables: dict[str, str]) -> None:
    from orchestrator.errors import StackFailed

    request = workflow_state(stack={"name": "neuronlab-env-gone", "operation": "CREATE", "deadline": 1e12})
    with pytest.raises(StackFailed, match="no longer exists"):
        provisioning.check_stack(request)


def test_what_the_run_was_comes_from_the_execution_not_the_task(tables: dict[str, str]) -> None:
    """Code in the benchmark task (its /home is the user's) must not write another environment's record or
    poison another series: environment, instance type, model and image come from the execution."""
    _record("demo", "READY")
    _record("victim", "READY")
    forged = {**_result(1000.0, 0), "environment": "victim", "model": "someone-elses-model",
              "instance_type": "trn1.32xlarge", "image_digest": "sha256:forged"}
    request = workflow_state(benchmark={"model": "random:bert-tiny"}, image={"digest": "sha256:real"})
    stored = to_json(provisioning.store_metrics(forged, request))
    assert stored["series"].startswith("random:bert-tiny#inf2.xlarge#")
    assert "lastBenchmark" in _item("demo") and "lastBenchmark" not in _item("victim")
