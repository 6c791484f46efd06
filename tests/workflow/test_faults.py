"""The fault suite: named failures on LocalCloud, each ending in a defined record state with its reason,
with no instance running unless the environment is READY, and no orphan (every stack, group, secret and
file system either in use or on its environment's record). The reconciler settles what the workflow could
not (an aborted execution runs no Catch)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from localcloud import faults
from localcloud.cloud import LocalCloud
from tests.workflow.conftest import http, running, start, visited_states

pytestmark = pytest.mark.slow
SETTLE_DEADLINE_S = 120


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    """The schedules run 60 times faster than the wall: the idle sweep's rate(5 minutes) fires every 5 s."""
    with running(tmp_path_factory.mktemp("localcloud"), clock_speed=60) as instance:
        yield instance


def record(cloud: LocalCloud, name: str) -> dict[str, Any]:
    return http(cloud).get(f"{cloud.api.url}/environments/{name}", timeout=30).json()


def reconcile(cloud: LocalCloud) -> list[dict[str, Any]]:
    response = boto3.client("lambda").invoke(FunctionName=cloud.function_name("IdleSweepFunction"),
                                             Payload=json.dumps({"reconcile": True}).encode())
    assert "FunctionError" not in response
    return json.loads(response["Payload"].read())["corrections"]


def entered(execution_arn: str, state: str, timeout: float = 60) -> None:
    """Wait until the execution has entered `state`."""
    deadline = time.monotonic() + timeout
    while state not in visited_states(execution_arn):
        assert time.monotonic() < deadline, f"{state} never entered"
        time.sleep(0.1)


def ended(execution_arn: str, timeout: float = SETTLE_DEADLINE_S) -> str:
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while (status := sfn.describe_execution(executionArn=execution_arn)["status"]) == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end"
        time.sleep(0.2)
    return status


def abort(execution_arn: str) -> None:
    boto3.client("stepfunctions").stop_execution(executionArn=execution_arn, cause="aborted by hand (test)")


def capacity(name: str) -> int:
    groups = boto3.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[f"neuronlab-{name}"])["AutoScalingGroups"]
    return groups[0]["DesiredCapacity"] if groups else 0


def orphans(cloud: LocalCloud) -> list[str]:
    """Resources no record accounts for: a stack, group or secret of an environment that has no record or
    is DELETED, or a file system that is neither its stack's nor kept on its record."""
    table = boto3.resource("dynamodb").Table(cloud.outputs["EnvironmentsTableName"])
    records = {r["name"]: r for r in table.scan()["Items"]}

    def accounted(name: str) -> bool:
        return name in records and records[name]["state"] != "DELETED"

    found = []
    for stack in boto3.client("cloudformation").describe_stacks()["Stacks"]:
        # an environment's own stack carries its name as a tag (its nested stacks go with it)
        owner = next((t["Value"] for t in stack.get("Tags", []) if t["Key"] == "neuronlab:environment"), None)
        if owner is not None and stack["StackStatus"] != "DELETE_COMPLETE" and not accounted(owner):
            found.append(f"stack {stack['StackName']}")
    for group in boto3.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]:
        if not accounted(group["AutoScalingGroupName"].removeprefix("neuronlab-")):
            found.append(f"group {group['AutoScalingGroupName']}")
    for secret in boto3.client("secretsmanager").list_secrets()["SecretList"]:
        if secret["Name"].startswith("neuronlab/") and not accounted(secret["Name"].split("/")[1]):
            found.append(f"secret {secret['Name']}")
    kept = {r.get("retainedFileSystemId") for r in records.values()}
    for system in boto3.client("efs").describe_file_systems()["FileSystems"]:
        name = next((t["Value"] for t in system.get("Tags", []) if t["Key"] == "Name"), "")
        owner = name.removeprefix("neuronlab-").removesuffix("-home")
        if system["FileSystemId"] not in kept and not accounted(owner):
            found.append(f"file system {system['FileSystemId']} ({name})")
    return found


@dataclass
class Scenario:
    """A start, a fault while it runs, and what it must end as."""

    body: dict[str, Any]
    state: str
    reason: str  # in failureReason (FAILED), lastBenchmarkFailure (READY) or stopReason (STOPPED)
    during: Callable[[LocalCloud, str, str], None] = lambda cloud, name, execution: None
    faults: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)


def kill_benchmark(cloud: LocalCloud, name: str, execution: str) -> None:
    entered(execution, "RunBenchmark")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        running = [m for m in cloud.agent.tasks.values() if m.process.poll() is None]
        if running:
            running[0].stop()
            return
        time.sleep(0.1)


def abort_in(state: str) -> Callable[[LocalCloud, str, str], None]:
    def during(cloud: LocalCloud, name: str, execution: str) -> None:
        entered(execution, state)
        abort(execution)
    return during


def request_in(state: str, method: str, path: str) -> Callable[[LocalCloud, str, str], None]:
    def during(cloud: LocalCloud, name: str, execution: str) -> None:
        entered(execution, state)
        response = http(cloud).request(method, f"{cloud.api.url}/environments/{name}{path}", timeout=60)
        assert response.status_code in (200, 202), response.text
    return during


def restart_agent(cloud: LocalCloud, name: str, execution: str) -> None:
    from localcloud.agent import Agent

    entered(execution, "CheckStack")
    cloud.agent.stop()
    cloud.agent = Agent(cloud.agent.state_dir, cloud.aws_endpoint, region=cloud.agent.region,
                        account=cloud.agent.account)
    cloud.agent.start()


SLOW_BENCHMARK = {"benchmarkModel": "random:bert-tiny", "benchmarkSeconds": 120}
SCENARIOS = {
    "benchmark killed": Scenario(SLOW_BENCHMARK, "READY", "without reporting a result", kill_benchmark),
    "benchmark times out": Scenario(SLOW_BENCHMARK, "READY", "States.Timeout",
                                    settings={"BENCHMARK_TIMEOUT_SECONDS": "6"}),
    "notebook never healthy": Scenario({"benchmark": False}, "FAILED", "NotebookUnhealthy",
                                       faults={"notebook_crash": True}, settings={"NOTEBOOK_TIMEOUT_SECONDS": "3"}),
    "stack fails": Scenario({"benchmark": False}, "FAILED", "StackFailed",
                            faults={"stack_failure": "Resource handler returned message: capacity (test)"}),
    "stack times out": Scenario({"benchmark": False}, "FAILED", "StackTimeout",
                                faults={"stack_in_progress": True}, settings={"STACK_TIMEOUT_SECONDS": "3"}),
    "aborted in DeployStacks": Scenario({"benchmark": False}, "FAILED", "ended ABORTED", abort_in("DeployStacks"),
                                        faults={"delay": {"deploy_stacks": 2.0}}),
    "aborted in WaitForStack": Scenario({"benchmark": False}, "FAILED", "ended ABORTED", abort_in("WaitForStack"),
                                        faults={"stack_in_progress": True}),
    "aborted in WaitForNotebook": Scenario({"benchmark": False}, "FAILED", "ended ABORTED",
                                           abort_in("WaitForNotebook"), faults={"notebook_crash": True}),
    # the notebook was READY before the benchmark: aborting the benchmark leaves a working notebook
    "aborted in RunBenchmark": Scenario(SLOW_BENCHMARK, "READY", "", abort_in("RunBenchmark")),
    "Lambda times out after create_stack": Scenario({"benchmark": False}, "FAILED", "Sandbox.Timedout",
                                                    faults={"time_out_after": {"deploy_stacks": 1}}),
    "MarkFailed fails once": Scenario({"benchmark": False}, "FAILED", "StackFailed",
                                      faults={"stack_failure": "capacity (test)", "fail_before": {"mark_failed": 1}}),
    "deleted while provisioning": Scenario({"benchmark": False}, "DELETED", "",
                                           request_in("WaitForNotebook", "DELETE", ""),
                                           faults={"notebook_crash": True}),
    "deleted during the benchmark": Scenario(SLOW_BENCHMARK, "DELETED", "",
                                             request_in("RunBenchmark", "DELETE", "")),
    "stopped while provisioning": Scenario({"benchmark": False}, "STOPPED", "stopped on request",
                                           request_in("WaitForNotebook", "POST", "/stop"),
                                           faults={"notebook_crash": True}),
    "agent restarted mid-start": Scenario({"benchmark": False}, "READY", "", restart_agent),
}


@pytest.mark.parametrize("title", list(SCENARIOS))
def test_every_failure_ends_defined_with_nothing_billed(cloud: LocalCloud, title: str) -> None:
    scenario = SCENARIOS[title]
    name = f"fault-{list(SCENARIOS).index(title)}"
    faults.active.variables.update(scenario.settings)
    for key, value in scenario.faults.items():
        setattr(faults.active, key, value)
    begin = time.monotonic()

    # Given a start, When the fault happens during it
    execution = start(cloud, {"name": name, **scenario.body})["executionArn"]
    scenario.during(cloud, name, execution)
    ended(execution)
    faults.active = faults.Faults()  # the world recovers
    # What the workflow could not settle, EventBridge's rules do, as on AWS: the execution's end event runs the
    # reconciler (an aborted execution runs no Catch), and the schedule runs the sweep (a delete finishing)
    deadline = time.monotonic() + SETTLE_DEADLINE_S
    while (final := record(cloud, name))["state"] in ("PROVISIONING", "STOPPING", "DELETING") \
            or (final["state"] == "READY" and "benchmarkRun" in final):  # an aborted benchmark, released
        assert time.monotonic() < deadline, f"not settled by EventBridge's rules: {final}"
        time.sleep(0.5)
    settled_s = time.monotonic() - begin

    # Then the record is in the defined state with its reason
    assert final["state"] == scenario.state, final
    said = final.get("failureReason") or (final.get("lastBenchmarkFailure") or {}).get("reason") \
        or final.get("stopReason") or ""
    assert scenario.reason in said, said
    # and nothing runs unless it is READY, and nothing is left that no record accounts for
    assert capacity(name) == (1 if scenario.state == "READY" else 0)
    assert reconcile(cloud) == []  # nothing left to correct
    assert orphans(cloud) == []
    print(f"\nSCENARIO {title!r}: {final['state']} in {settled_s:.1f} s ({said[:80]})")


def test_a_stack_created_after_its_environment_was_deleted_is_removed(cloud: LocalCloud) -> None:
    """A start's step still running at the delete can create the stack after the delete saw none: the
    reconciler removes it (the record already says DELETED)."""
    # Given an environment whose stack exists while its record says DELETED
    execution = start(cloud, {"name": "late-stack", "benchmark": False})["executionArn"]
    assert ended(execution) == "SUCCEEDED"
    table = boto3.resource("dynamodb").Table(cloud.outputs["EnvironmentsTableName"])
    table.update_item(Key={"name": "late-stack"}, UpdateExpression="SET #s = :d",
                      ExpressionAttributeNames={"#s": "state"}, ExpressionAttributeValues={":d": "DELETED"})

    # When the reconciler runs
    corrections = reconcile(cloud)

    # Then the stack, its group and its token go
    assert {"environment": "late-stack", "action": "deleted"}.items() <= \
        next(c for c in corrections if c["environment"] == "late-stack" and c["action"] == "deleted").items()
    assert capacity("late-stack") == 0
    stacks = boto3.client("cloudformation").describe_stacks()["Stacks"]
    assert not [s for s in stacks if s["StackName"] == "neuronlab-env-late-stack"
                and s["StackStatus"] != "DELETE_COMPLETE"]
    assert record(cloud, "late-stack")["retainedFileSystemId"].startswith("fs-")  # /home kept, on the record
    assert orphans(cloud) == []
