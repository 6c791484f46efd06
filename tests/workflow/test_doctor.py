"""`neuronlab doctor` against LocalCloud: it passes on a good deployment, names what is missing on a broken
one, and its action list covers every call the functions really make (recorded by LocalCloud's IAM)."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from localcloud import iam
from localcloud.cloud import REGION, LocalCloud
from neuronlab import permissions
from neuronlab.client import Target
from neuronlab.doctor import Doctor
from tests.workflow.conftest import http, start, wait

pytestmark = pytest.mark.slow


def doctor(cloud: LocalCloud) -> dict[str, dict]:
    target = Target(api_url=cloud.api.url, region=REGION, aws_endpoint=cloud.aws_endpoint, person=cloud.person("you"))
    return {check.name: check.__dict__ for check in Doctor(target, local=True).run()}


def test_doctor_passes_on_localcloud(cloud: LocalCloud) -> None:
    checks = doctor(cloud)
    assert [name for name, check in checks.items() if not check["ok"]] == []
    assert {"stack", "iam DeployStacksFunction", "iam ApiFunction", "neuron-ami", "default-image", "instance-types",
            "quota Running On-Demand Inf instances", "vpc-origin", "origin-prefix-list"} <= set(checks)


def test_doctor_names_a_missing_permission_and_its_fix(cloud: LocalCloud) -> None:
    from moto.iam.models import iam_backends

    function = boto3.client("lambda").get_function(FunctionName=cloud.function_name("MarkFailedFunction"))
    role = iam_backends["123456789012"]["global"].get_role(function["Configuration"]["Role"].rsplit("/", 1)[1])
    saved = dict(role.policies)
    role.policies.clear()
    try:
        check = doctor(cloud)["iam MarkFailedFunction"]
    finally:
        role.policies.update(saved)
    assert not check["ok"] and "dynamodb:UpdateItem on arn:aws:dynamodb:" in check["detail"]
    assert "MarkFailedFunction" in check["fix"]


def test_doctor_knows_every_call_the_functions_make(cloud: LocalCloud) -> None:
    # Given a whole life: start with a benchmark, sweep, stop, warm start, history, delete, sweep
    execution, _, _ = wait(cloud, start(cloud, {"name": "lifecycle", "benchmarkModel": "noop",
                                                "benchmarkSeconds": 1})["executionArn"])
    assert execution["status"] == "SUCCEEDED"
    invoke = boto3.client("lambda").invoke
    invoke(FunctionName=cloud.function_name("IdleSweepFunction"), Payload=b"{}")
    assert http(cloud).post(f"{cloud.api.url}/environments/lifecycle/stop", timeout=30).status_code == 200
    again = http(cloud).post(f"{cloud.api.url}/environments/lifecycle/start", json={"benchmark": False}, timeout=30)
    assert wait(cloud, again.json()["executionArn"])[0]["status"] == "SUCCEEDED"
    for query in ({"model": "noop"}, {"environment": "lifecycle"}):
        assert http(cloud).get(f"{cloud.api.url}/benchmarks", params=query, timeout=30).status_code == 200
    assert http(cloud).delete(f"{cloud.api.url}/environments/lifecycle", timeout=30).status_code in (200, 202)
    time.sleep(1)
    invoke(FunctionName=cloud.function_name("IdleSweepFunction"), Payload=b"{}")

    # Then every action a function's role was checked for is on doctor's list for that function
    target = Target(api_url=cloud.api.url, region=REGION, aws_endpoint=cloud.aws_endpoint, person=cloud.person("you"))
    probe = Doctor(target, local=True)
    list(probe.stack())
    listed = permissions.calls(probe._deployment())
    roles = {boto3.client("lambda").get_function(FunctionName=cloud.function_name(f))["Configuration"]["Role"]: f
             for f in listed}
    made = {(roles[role], action) for role, action, _ in iam.CALLS if role in roles}
    assert {f for f, _ in made} >= {"DeployStacksFunction", "RunBenchmarkFunction", "ApiFunction", "IdleSweepFunction"}
    missing = sorted(made - {(f, action) for f, calls in listed.items() for action, _ in calls})
    assert missing == [], json.dumps(missing)
