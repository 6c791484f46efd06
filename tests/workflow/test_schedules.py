"""What AWS runs by itself, on LocalCloud (local/localcloud/schedules.py): the idle sweep's schedule fires with
nobody invoking it, and an execution's status events reach EventBridge's rules (the reconciler's among them)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from localcloud import faults
from localcloud.cloud import LocalCloud
from localcloud.schedules import period_seconds
from tests.workflow.conftest import event_queue, http, running, start, visited_states, wait

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with running(tmp_path_factory.mktemp("localcloud")) as instance:  # the clock stands until a test runs it
        yield instance


def record(cloud: LocalCloud, name: str) -> dict[str, Any]:
    return http(cloud).get(f"{cloud.api.url}/environments/{name}", timeout=30).json()


def until(cloud: LocalCloud, name: str, predicate: Any, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not predicate(found := record(cloud, name)):
        assert time.monotonic() < deadline, found
        time.sleep(0.5)
    return found


def test_rate_expressions_and_what_is_not_one() -> None:
    assert period_seconds("rate(5 minutes)") == 300 and period_seconds("rate(1 hour)") == 3600
    assert period_seconds("rate(2 days)") == 172800
    assert period_seconds("cron(0 8 * * ? *)") is None


def test_the_idle_sweep_runs_on_its_schedule(cloud: LocalCloud) -> None:
    # Given a READY environment with a 1.2 s idle limit, and LocalCloud's clock 300 times the wall's
    first = start(cloud, {"name": "scheduled", "benchmark": False, "idleMinutes": 0.02, "graceMinutes": 0})
    execution, _, _ = wait(cloud, first["executionArn"])
    assert execution["status"] == "SUCCEEDED"
    cloud.scheduler.speed = 300  # rate(5 minutes): every second
    try:
        # Then, with nobody invoking the sweep, its schedule stops the environment for being idle
        stopped = until(cloud, "scheduled", lambda r: r["state"] == "STOPPED")
    finally:
        cloud.scheduler.speed = 0
    assert stopped["stopReason"].startswith("idle for")


def test_an_execution_aborted_from_outside_is_settled_by_its_status_event(cloud: LocalCloud) -> None:
    """Nobody calls the reconciler and the schedule stands still: the ABORTED event's rule runs it."""
    # Given a queue subscribed to Step Functions' events, as any EventBridge rule is
    sqs = boto3.client("sqs")
    queue = event_queue("execution-events", {"source": ["aws.states"]})
    # When a start is aborted from outside NeuronLab while its DeployStacks step runs
    faults.active.delay["deploy_stacks"] = 2.0
    execution = start(cloud, {"name": "aborted", "benchmark": False})["executionArn"]
    deadline = time.monotonic() + 60
    while "DeployStacks" not in visited_states(execution):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    boto3.client("stepfunctions").stop_execution(executionArn=execution, cause="stopped in the console (test)")

    # Then the record is settled by the reconciler the ABORTED event invoked
    settled = until(cloud, "aborted", lambda r: r["state"] != "PROVISIONING")
    assert settled["state"] == "FAILED" and "ended ABORTED" in settled["failureReason"]
    # and the events are the ones AWS sends: RUNNING, then ABORTED, for this execution of this state machine
    statuses = []
    deadline = time.monotonic() + 30
    while "ABORTED" not in statuses and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            event = json.loads(message["Body"])
            assert event["detail-type"] == "Step Functions Execution Status Change"
            if event["detail"]["executionArn"] == execution:
                assert event["detail"]["stateMachineArn"] == cloud.outputs["StateMachineArn"]
                statuses.append(event["detail"]["status"])
    assert statuses == ["RUNNING", "ABORTED"]
