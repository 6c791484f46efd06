"""Scale to zero on LocalCloud: the idle sweep, stop on request, unreachable notebooks, warm start."""

from __future__ import annotations

import json
import os
import signal
import time

import boto3
import pytest
from neuronlab_core import jupyter

from localcloud import faults
from localcloud.cloud import LocalCloud
from tests.workflow.conftest import event_queue, home, http, start, wait

pytestmark = pytest.mark.slow


def sweep(cloud: LocalCloud) -> dict[str, dict]:
    response = boto3.client("lambda").invoke(FunctionName=cloud.function_name("IdleSweepFunction"), Payload=b"{}")
    assert "FunctionError" not in response, response["Payload"].read()
    return {d["environment"]: d for d in json.loads(response["Payload"].read())["decisions"]}


def record(cloud: LocalCloud, name: str) -> dict:
    return http(cloud).get(f"{cloud.api.url}/environments/{name}", timeout=30).json()


def compute(name: str) -> tuple[int, int]:
    service = boto3.client("ecs").describe_services(cluster=f"neuronlab-{name}", services=["notebook"])["services"][0]
    group = boto3.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[f"neuronlab-{name}"])["AutoScalingGroups"][0]
    return service["desiredCount"], group["DesiredCapacity"]


def until(predicate, timeout: float = 30):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def report(cloud: LocalCloud, name: str) -> dict | None:
    """The environment's activity report, as its notebook task's sidecar wrote it."""
    item = boto3.resource("dynamodb").Table(cloud.outputs["ActivityTableName"]).get_item(Key={"name": name})
    return item.get("Item", {}).get("report")


def reported_since_ready(cloud: LocalCloud, name: str) -> bool:
    """The sidecar has reported Jupyter reachable since the environment became READY (what the sweep counts)."""
    seen = report(cloud, name) or {}
    return seen.get("reachable") is True and seen["reportedAt"] >= record(cloud, name)["readyAt"]


def token(cloud: LocalCloud, name: str) -> str:
    arn = record(cloud, name)["tokenSecretArn"]
    return boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]


def test_idle_environment_is_stopped_by_a_sweep_and_starts_warm_with_home_intact(cloud: LocalCloud) -> None:
    # Given a READY environment with a 1.2 s idle limit and a file in /home
    first = start(cloud, {"name": "idle", "benchmark": False, "idleMinutes": 0.02, "graceMinutes": 0})
    execution, ready, _ = wait(cloud, first["executionArn"])
    assert execution["status"] == "SUCCEEDED", ready.get("failureReason")
    (home(cloud, "idle") / "notes.txt").write_text("kept across stops")
    url = ready["url"]
    time.sleep(2)
    until(lambda: reported_since_ready(cloud, "idle"))

    # When the sweep runs
    decision = sweep(cloud)["idle"]

    # Then it is stopped for being idle, with the evidence, and nothing runs
    assert decision["action"] == "stop" and decision["reason"].startswith("idle for")
    stopped = record(cloud, "idle")
    assert stopped["state"] == "STOPPED" and stopped["stopReason"].startswith("idle for")
    assert stopped["stopEvidence"]["reachable"] is True and "url" not in stopped
    assert compute("idle") == (0, 0)
    # the shared load balancer keeps the rule; with no healthy target it answers 503
    until(lambda: jupyter.api_status(url, token(cloud, "idle"))[0] == 503)

    # When it starts again, with its recorded settings
    response = http(cloud).post(f"{cloud.api.url}/environments/idle/start", json={"benchmark": False}, timeout=30)
    assert response.status_code == 202, response.text
    execution, ready, _ = wait(cloud, response.json()["executionArn"])

    # Then it took the warm path and /home is still there
    assert execution["status"] == "SUCCEEDED", ready.get("failureReason")
    assert json.loads(execution["output"])["stack"]["operation"] in ("UPDATE", "NONE")
    assert compute("idle") == (1, 1)
    assert (home(cloud, "idle") / "notes.txt").read_text() == "kept across stops"
    assert jupyter.api_status(ready["url"], token(cloud, "idle"))[0] == 200


def test_active_environment_is_kept(cloud: LocalCloud) -> None:
    first = start(cloud, {"name": "active", "benchmark": False, "idleMinutes": 60, "graceMinutes": 0})
    execution, _, _ = wait(cloud, first["executionArn"])
    assert execution["status"] == "SUCCEEDED"
    # the task's activity sidecar reports from inside; the sweep judges from that report
    until(lambda: reported_since_ready(cloud, "active"))
    seen = report(cloud, "active")
    assert seen is not None and seen["kernels"] == []
    decision = sweep(cloud)["active"]
    assert decision["action"] == "keep" and decision["reason"].startswith("active")
    assert decision["evidence"]["source"] == "report"
    assert record(cloud, "active")["lastSweep"]["action"] == "keep"
    assert compute("active") == (1, 1)


def test_stop_on_request(cloud: LocalCloud) -> None:
    first = start(cloud, {"name": "manual", "benchmark": False})
    execution, _, _ = wait(cloud, first["executionArn"])
    assert execution["status"] == "SUCCEEDED"
    response = http(cloud).post(f"{cloud.api.url}/environments/manual/stop", timeout=30)
    assert response.status_code == 200 and response.json()["state"] == "STOPPED"
    assert compute("manual") == (0, 0)
    again = http(cloud).post(f"{cloud.api.url}/environments/manual/stop", timeout=30)
    assert again.status_code == 409 and "STOPPED" in again.json()["message"]


def test_no_report_from_the_task_counts_as_unreachable(cloud: LocalCloud) -> None:
    """The sweep cannot ask Jupyter itself (outside the VPC, off the allow-list): no report, no activity seen."""
    first = start(cloud, {"name": "silent", "benchmark": False, "graceMinutes": 0})
    execution, _, _ = wait(cloud, first["executionArn"])
    assert execution["status"] == "SUCCEEDED"
    for managed in list(cloud.agent.notebooks.values()):
        for sidecar in managed.sidecars:  # the activity sidecar dies; Jupyter itself stays up
            os.killpg(sidecar.pid, signal.SIGKILL)
    boto3.resource("dynamodb").Table(cloud.outputs["ActivityTableName"]).delete_item(Key={"name": "silent"})
    decision = sweep(cloud)["silent"]
    assert decision["action"] == "keep" and "no activity report" in decision["reason"]
    assert decision["evidence"]["source"] == "no report"
    assert record(cloud, "silent")["unreachableCount"] == 1


def test_unreachable_notebook_becomes_unhealthy_and_is_scaled_to_zero(cloud: LocalCloud) -> None:
    first = start(cloud, {"name": "broken", "benchmark": False, "graceMinutes": 0})
    execution, _, _ = wait(cloud, first["executionArn"])
    assert execution["status"] == "SUCCEEDED"
    # the notebook container starts crash-looping
    faults.active.notebook_crash = True
    for managed in list(cloud.agent.notebooks.values()):
        os.killpg(managed.process.pid, signal.SIGKILL)
    # the replacement task's sidecar reports what it sees: nothing answering
    until(lambda: (report(cloud, "broken") or {}).get("reachable") is False)
    outcomes = [sweep(cloud)["broken"]["action"] for _ in range(2)]
    assert outcomes == ["keep", "keep"]
    assert record(cloud, "broken")["unreachableCount"] == 2
    final = sweep(cloud)["broken"]
    assert final["action"] == "unhealthy" and "unreachable 3 times" in final["reason"]
    assert record(cloud, "broken")["state"] == "UNHEALTHY"
    assert compute("broken") == (0, 0)


def test_warning_then_stop_events_reach_eventbridge(cloud: LocalCloud) -> None:
    # Given a rule that copies NeuronLab's events to a queue
    sqs = boto3.client("sqs")
    queue = event_queue("neuronlab-events", {"source": ["neuronlab"]})
    first = start(cloud, {"name": "warned", "benchmark": False, "idleMinutes": 0.05, "graceMinutes": 0})
    execution, _, _ = wait(cloud, first["executionArn"])
    assert execution["status"] == "SUCCEEDED"
    until(lambda: reported_since_ready(cloud, "warned"))  # the sweep judges from the task's own report

    # When a sweep finds it idle, but not yet for its limit (3 s)
    assert sweep(cloud)["warned"]["action"] == "warn"
    assert "idleWarningAt" in record(cloud, "warned")
    # and a later sweep finds it past the limit
    time.sleep(3.5)
    assert sweep(cloud)["warned"]["action"] == "stop"

    # Then EventBridge got the warning, then the stop
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
    kinds = [(json.loads(m["Body"])["detail-type"], json.loads(m["Body"])["detail"]["environment"])
             for m in received]
    assert ("EnvironmentIdleWarning", "warned") in kinds and ("EnvironmentStopped", "warned") in kinds
    assert kinds.index(("EnvironmentIdleWarning", "warned")) < kinds.index(("EnvironmentStopped", "warned"))
