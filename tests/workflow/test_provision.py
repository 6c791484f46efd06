"""Named scenarios of the provisioning workflow on LocalCloud."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import boto3
import pytest
from neuronlab_core import jupyter

from localcloud import faults
from localcloud.cloud import LOCAL_IMAGE, LocalCloud
from orchestrator.adapters.dynamodb import EnvironmentStore
from tests.workflow.conftest import start, visited_states, wait

pytestmark = pytest.mark.slow


def api_status(url: str, token: str | None) -> int:
    return jupyter.api_status(url, token or "")[0]  # through the local edge (HTTPS, its own certificate)


def test_happy_path_provisions_benchmarks_and_stores_the_result(cloud: LocalCloud) -> None:
    # Given an image in ECR
    # When an environment starts with a short benchmark
    record = start(cloud, {"name": "happy", "benchmarkModel": "random:bert-tiny", "benchmarkSeconds": 1})
    execution, record, _ = wait(cloud, record["executionArn"])

    # Then every step ran once the loops settled, and the environment is READY
    assert execution["status"] == "SUCCEEDED", record.get("failureReason")
    states = visited_states(execution["executionArn"])
    assert states[:4] == ["Mode", "CheckImage", "DeployStacks", "WaitForStack"]  # Mode: a start, not a bench
    assert states[-3:] == ["RunBenchmark", "StoreMetrics", "Provisioned"]
    assert record["state"] == "READY" and record["url"].startswith("https://localhost:")  # the local edge
    assert record["imageDigest"].startswith("sha256:")

    # And JupyterLab answers with the token from Secrets Manager, and refuses without it
    token = boto3.client("secretsmanager").get_secret_value(SecretId=record["tokenSecretArn"])["SecretString"]
    assert api_status(record["url"], token) == 200
    assert api_status(record["url"], None) == 403

    # And the benchmark is in the history, linked to the environment
    bench = record["lastBenchmark"]
    assert bench["model"] == "random:bert-tiny" and bench["backend"] == "cpu" and bench["verdict"] == "baseline"
    table = boto3.resource("dynamodb").Table(cloud.outputs["BenchmarksTableName"])
    series = "random:bert-tiny#inf2.xlarge#cpu#b1#s128#float32#p1#latency"
    item = table.get_item(Key={"series": series, "runKey": bench["runKey"]})["Item"]
    assert item["environment"] == "happy" and int(item["inferences"]) >= 20
    assert float(item["latency_ms"]["p50"]) <= float(item["latency_ms"]["p99"])
    # with every latency, its throughput over time, and where it ran as ECS knows the instance (not the task)
    assert item["histogram"] and item["throughput_windows"]
    assert item["availability_zone"].startswith("us-east-1") and item["ami_id"].startswith("ami-")
    # the task token is gone once the result is stored
    assert EnvironmentStore(cloud.outputs["EnvironmentsTableName"]).get("happy").benchmark_task_token is None


def test_missing_image_fails_before_anything_is_created(cloud: LocalCloud) -> None:
    record = start(cloud, {"name": "noimage", "image": LOCAL_IMAGE.replace(":latest", ":missing")})
    execution, record, _ = wait(cloud, record["executionArn"])
    assert execution["status"] == "FAILED"
    assert record["state"] == "FAILED"
    assert record["failureReason"].startswith("ImageNotFound: image") and ":missing" in record["failureReason"]
    assert visited_states(execution["executionArn"]) == ["Mode", "CheckImage", "MarkFailed", "ProvisioningFailed"]
    stacks = boto3.client("cloudformation").list_stacks()["StackSummaries"]
    assert not [s for s in stacks if s["StackName"] == "neuronlab-env-noimage"]


def test_failed_stack_reports_the_reason_from_stack_events(cloud: LocalCloud) -> None:
    faults.active.stack_failure = "We currently do not have sufficient inf2.xlarge capacity in us-east-1a"
    record = start(cloud, {"name": "nocapacity"})
    execution, record, _ = wait(cloud, record["executionArn"])
    assert execution["status"] == "FAILED"
    assert record["failureReason"].startswith("StackFailed: stack neuronlab-env-nocapacity is ROLLBACK_COMPLETE")
    assert "sufficient inf2.xlarge capacity" in record["failureReason"]


def test_notebook_that_never_becomes_healthy_fails_at_its_deadline(cloud: LocalCloud) -> None:
    faults.active.notebook_crash = True
    faults.active.variables["NOTEBOOK_TIMEOUT_SECONDS"] = "4"
    record = start(cloud, {"name": "unhealthy"})
    execution, record, seconds = wait(cloud, record["executionArn"])
    assert execution["status"] == "FAILED"
    assert record["failureReason"].startswith("NotebookUnhealthy: notebook not healthy after 4 s")
    assert visited_states(execution["executionArn"]).count("CheckNotebook") >= 2  # it polled, then gave up
    assert seconds < 60
    # and the failure released the instance it had launched, and says so
    group = boto3.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["neuronlab-unhealthy"])["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 0 and record["capacity"] == "service and instances scaled to zero"


def _kill_the_benchmark_when_it_starts(cloud: LocalCloud) -> threading.Thread:
    """Kill the benchmark's process as soon as it runs (as an OOM kill would)."""
    def kill_benchmark() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for managed in list(cloud.agent.tasks.values()):
                if managed.process.poll() is None:
                    os.killpg(managed.process.pid, signal.SIGKILL)
                    return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_benchmark, daemon=True)
    killer.start()
    return killer


def test_benchmark_task_that_crashes_fails_the_step_early_and_the_notebook_stays_ready(cloud: LocalCloud) -> None:
    # Given a benchmark that would run for a minute, killed as soon as it starts
    record = start(cloud, {"name": "crash", "benchmarkModel": "random:bert-tiny", "benchmarkSeconds": 60})
    _kill_the_benchmark_when_it_starts(cloud)
    execution, record, seconds = wait(cloud, record["executionArn"])

    # Then the step fails from the ECS 'task stopped' event, long before its heartbeat deadline
    heartbeat = json.loads(execution["input"])["timeouts"]["benchmarkHeartbeatSeconds"]
    assert heartbeat == 600 and seconds < heartbeat / 5
    # and the working notebook stays READY, with the benchmark's failure on its record
    assert execution["status"] == "SUCCEEDED"
    assert visited_states(execution["executionArn"])[-3:] == ["RecordBenchmarkFailure", "BenchmarkGate",
                                                              "ReadyWithoutBenchmark"]
    assert record["state"] == "READY"
    reason = record["lastBenchmarkFailure"]["reason"]
    assert reason.startswith("BenchmarkFailed: benchmark task")
    assert "exit code -9" in reason and "without reporting a result" in reason


def test_a_benchmark_made_a_gate_fails_the_start_and_releases_the_compute(cloud: LocalCloud) -> None:
    record = start(cloud, {"name": "gated", "benchmarkModel": "random:bert-tiny", "benchmarkSeconds": 60,
                           "benchmarkGate": True})
    _kill_the_benchmark_when_it_starts(cloud)
    execution, record, _ = wait(cloud, record["executionArn"])
    assert execution["status"] == "FAILED"
    assert record["state"] == "FAILED" and record["failureReason"].startswith("BenchmarkFailed: benchmark task")
    assert record["capacity"] == "service and instances scaled to zero"


def test_warm_start_updates_the_existing_stack(cloud: LocalCloud) -> None:
    first = start(cloud, {"name": "warm", "benchmark": False})
    execution, record, _ = wait(cloud, first["executionArn"])
    assert execution["status"] == "SUCCEEDED", record.get("failureReason")
    assert json.loads(execution["output"])["stack"]["operation"] == "CREATE"
    stack_id = boto3.client("cloudformation").describe_stacks(StackName="neuronlab-env-warm")["Stacks"][0]["StackId"]

    # Given the environment was stopped (the stop path itself is tested with the idle sweep)
    EnvironmentStore(cloud.outputs["EnvironmentsTableName"]).transition(
        "warm", {"READY"}, {"state": "STOPPED"})

    # When it starts again
    second = start(cloud, {"name": "warm", "benchmark": False})
    execution, record, _ = wait(cloud, second["executionArn"])

    # Then the same stack is updated, not replaced
    assert execution["status"] == "SUCCEEDED", record.get("failureReason")
    assert json.loads(execution["output"])["stack"]["operation"] in ("UPDATE", "NONE")
    assert boto3.client("cloudformation").describe_stacks(StackName="neuronlab-env-warm")["Stacks"][0][
        "StackId"] == stack_id
    assert record["state"] == "READY"


def _status_from(url: str, token: str, source: str, ca_file: str) -> int:
    """GET {url}api/status through the edge, the connection leaving from `source` (a viewer's address)."""
    import http.client
    import ssl
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPSConnection(parts.hostname, parts.port, source_address=(source, 0), timeout=10,
                                             context=ssl.create_default_context(cafile=ca_file))
    try:
        connection.request("GET", f"{parts.path}api/status", headers={"Authorization": f"token {token}"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_readiness_is_judged_inside_aws_not_through_the_viewer_allow_list(cloud: LocalCloud) -> None:
    """Defect 1 of the strict-AWS issue: the workflow's Lambda functions reach the edge from another address
    (127.0.0.2, as an AWS address) than the user on the allow-list; the notebook must still become READY."""
    # Given an environment whose allow-list is this machine's user address only
    first = start(cloud, {"name": "allowlisted", "benchmark": False, "allowCidrs": ["127.0.0.1/32"]})

    # When the workflow runs
    execution, record, _ = wait(cloud, first["executionArn"])

    # Then it is READY: readiness came from the load balancer's health check, not a request through the URL
    assert execution["status"] == "SUCCEEDED", record.get("failureReason")
    detail = json.loads(execution["output"])["notebook"]["detail"]
    assert "healthy" in detail
    # And the edge runs the allow-list: the user gets in, any other address is refused by the function
    token = boto3.client("secretsmanager").get_secret_value(SecretId=record["tokenSecretArn"])["SecretString"]
    assert _status_from(record["url"], token, "127.0.0.1", str(cloud.edge.ca_file)) == 200
    assert _status_from(record["url"], token, "127.0.0.2", str(cloud.edge.ca_file)) == 403
