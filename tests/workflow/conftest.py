"""The deployed ASL file, executed by moto's interpreter on LocalCloud, with the real handlers."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from localcloud import faults
from localcloud.cloud import REGION, LocalCloud
from neuronlab import signing

EXECUTION_DEADLINE_S = 180


def http(cloud: LocalCloud, person: str = "you") -> requests.Session:
    """A requests session signing as that person of the emulated IAM (LocalCloud's API checks SigV4)."""
    return signing.session(cloud.person(person), REGION)


def event_queue(name: str, pattern: dict[str, Any]) -> str:
    """An SQS queue that a rule on the default bus sends the events matching `pattern` to: its URL."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}])
    return queue


@contextmanager
def running(directory: Path, parameters: dict[str, str] | None = None, clock_speed: float = 0) -> Iterator[LocalCloud]:
    """A LocalCloud for one test module (with these template parameters over its own); the process
    environment it changed is put back after. Its schedules are off unless `clock_speed` says how fast they run:
    a test invokes the sweep when it means to (test_schedules.py and the fault suite run the clock)."""
    saved = dict(os.environ)
    instance = LocalCloud(directory, parameters=parameters or {}, clock_speed=clock_speed).start()
    try:
        yield instance
    finally:
        instance.stop()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with running(tmp_path_factory.mktemp("localcloud")) as instance:
        yield instance


@pytest.fixture(autouse=True)
def no_faults() -> Iterator[None]:
    faults.active = faults.Faults()
    yield
    faults.active = faults.Faults()


BILLABLE_STATES = {"READY", "PROVISIONING"}


def billed_without_reason() -> list[str]:
    """Environments whose Auto Scaling group has capacity while their record is not READY or PROVISIONING."""
    groups = boto3.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    table = boto3.resource("dynamodb").Table(
        next(t for t in boto3.client("dynamodb").list_tables()["TableNames"] if "EnvironmentsTable" in t))
    found = []
    for group in groups:
        name = group["AutoScalingGroupName"].removeprefix("neuronlab-")
        if group["DesiredCapacity"] > 0:
            state = table.get_item(Key={"name": name}).get("Item", {}).get("state")
            if state not in BILLABLE_STATES:
                found.append(f"{name}: {group['DesiredCapacity']} instance(s) while {state}")
    return found


@pytest.fixture(autouse=True)
def nothing_billed_without_reason(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every LocalCloud test: no instance runs for an environment that is not READY or PROVISIONING."""
    yield
    if "cloud" in request.fixturenames:
        request.getfixturevalue("cloud")
        assert billed_without_reason() == []


def start(cloud: LocalCloud, body: dict[str, Any]) -> dict[str, Any]:
    response = http(cloud).post(f"{cloud.api.url}/environments", json=body, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()


def wait(cloud: LocalCloud, execution_arn: str, person: str = "you") -> tuple[dict[str, Any], dict[str, Any], float]:
    """Wait for the execution to end; returns it, the environment record (as `person` reads it) and the seconds
    it took."""
    sfn = boto3.client("stepfunctions")
    begin = time.monotonic()
    while time.monotonic() - begin < EXECUTION_DEADLINE_S:
        execution = sfn.describe_execution(executionArn=execution_arn)
        if execution["status"] != "RUNNING":
            name = json.loads(execution["input"])["name"]
            record = http(cloud, person).get(f"{cloud.api.url}/environments/{name}", timeout=30).json()
            return execution, record, time.monotonic() - begin
        time.sleep(0.3)
    raise AssertionError(f"execution still running after {EXECUTION_DEADLINE_S} s: {execution_arn}")


def visited_states(execution_arn: str) -> list[str]:
    events = boto3.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def home(cloud: LocalCloud, name: str) -> Path:
    return cloud.state_dir / "homes" / name
