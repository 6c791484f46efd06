"""`neuronlab doctor` against LocalCloud: it passes on a good deployment, names what is missing on a broken
one, and its action list covers every call the functions really make (recorded by LocalCloud's IAM)."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from localcloud import iam, patches
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
    assert {"stack", "iam DeployStacksFunction", "iam ApiFunction", "iam EnvironmentStackRole", "neuron-ami",
            "default-image", "instance-types", "account-ceilings",
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


def test_doctor_simulates_the_stack_role_as_aws_evaluates_it(cloud: LocalCloud) -> None:
    """An action without a resource type granted on an ARN (cloudfront:CreateFunction, as the stack role had it) is
    AccessDenied on AWS: doctor simulates it on "*" and names it."""
    from moto.iam.models import iam_backends

    role = iam_backends["123456789012"]["global"].get_role(boto3.client("cloudformation").describe_stack_resource(
        StackName="neuronlab", LogicalResourceId="EnvironmentStackRole")["StackResourceDetail"]["PhysicalResourceId"])
    saved = dict(role.policies)
    scoped = {name: json.loads(document if isinstance(document, str) else json.dumps(document))
              for name, document in saved.items()}
    for document in scoped.values():
        statements = document["Statement"]
        document["Statement"] = [s for s in statements if s.get("Sid") != "NewAllowListFunctions"]
        for statement in document["Statement"]:
            if statement.get("Sid") == "AllowListFunctions":
                statement["Action"] = [*statement["Action"], "cloudfront:CreateFunction"]
    role.policies.clear()
    role.policies.update({name: json.dumps(document) for name, document in scoped.items()})
    try:
        check = doctor(cloud)["iam EnvironmentStackRole"]
    finally:
        role.policies.clear()
        role.policies.update(saved)
    assert not check["ok"] and check["detail"] == "denied: cloudfront:CreateFunction on *", check["detail"]
    assert doctor(cloud)["iam EnvironmentStackRole"]["ok"]


def test_doctor_checks_the_quota_of_the_families_the_deployment_allows(
        cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an account with no Trn capacity
    monkeypatch.setitem(patches.EC2_QUOTAS, "L-2C3B7624", ("Running On-Demand Trn instances", 0.0))
    target = Target(api_url=cloud.api.url, region=REGION, aws_endpoint=cloud.aws_endpoint, person=cloud.person("you"))
    probe = Doctor(target, local=True)
    list(probe.stack())
    # When the deployment allows only Inferentia, the Trn quota does not matter
    probe.parameters["AllowedInstanceTypes"] = "inf2.8xlarge,inf2.xlarge"
    checks = {check.name: check for check in probe.quotas()}
    assert list(checks) == ["quota Running On-Demand Inf instances"]
    assert checks["quota Running On-Demand Inf instances"].ok
    assert "the smallest allowed instance needs 4" in checks["quota Running On-Demand Inf instances"].detail
    # and when it allows every type, the Trn quota fails with its fix
    probe.parameters["AllowedInstanceTypes"] = ""
    trn = {check.name: check for check in probe.quotas()}["quota Running On-Demand Trn instances"]
    assert not trn.ok and "needs 8" in trn.detail and "request 'Running On-Demand Trn instances' >= 8" in trn.fix


def test_doctor_reports_the_headroom_under_the_account_ceilings(cloud: LocalCloud) -> None:
    table = boto3.resource("dynamodb").Table(cloud.outputs["EnvironmentsTableName"])
    before = int(doctor(cloud)["account-ceilings"]["detail"].split()[0])
    stamp = "2026-12-01T00:00:00+00:00"
    for name, state in (("ceiling-stopped", "STOPPED"), ("ceiling-deleted", "DELETED")):
        table.put_item(Item={"name": name, "state": state, "stackName": f"neuronlab-env-{name}", "owner": "x",
                             "instanceType": "inf2.xlarge", "createdAt": stamp, "updatedAt": stamp})
    try:
        check = doctor(cloud)["account-ceilings"]
    finally:
        for name in ("ceiling-stopped", "ceiling-deleted"):
            table.delete_item(Key={"name": name})
    assert check["ok"]
    assert check["detail"].startswith(f"{before + 1} environments hold their stacks; {49 - before} more can (AWS "
                                      "allows 50 distributions associated with one CloudFront VPC origin")


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
