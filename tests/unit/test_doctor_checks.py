"""`neuronlab doctor`'s checks that LocalCloud cannot serve, against botocore's Stubber (LocalCloud runs no API
Gateway: its API is served from template.yaml), and the rule its IAM simulation follows."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from localcloud import iam
from neuronlab import permissions
from neuronlab.client import Target
from neuronlab.doctor import Doctor

API_URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/v1"
DEPLOYMENT = permissions.Deployment("us-east-1", "123456789012", "environments", "activity", "benchmarks",
                                    "idempotency", "bucket", "arn:aws:states:us-east-1:123456789012:stateMachine:p",
                                    "arn:aws:cloudformation:us-east-1:123456789012:stack/shared/1", "neuronlab")


def api_check(credentials: str | None) -> Any:
    client = boto3.client("apigateway", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    integration = {"type": "AWS_PROXY", **({"credentials": credentials} if credentials else {})}
    stubber = Stubber(client)
    stubber.add_response("get_resources", {"items": [
        {"id": "r1", "path": "/environments", "resourceMethods": {
            "GET": {"methodIntegration": integration}, "POST": {"methodIntegration": integration}}},
        {"id": "r2", "path": "/", "resourceMethods": {}}]},
        {"restApiId": "abc123defg", "embed": ["methods"], "limit": 500})
    doctor = Doctor(Target(api_url=API_URL, region="us-east-1"), local=False)
    doctor.client = lambda service: client  # type: ignore[method-assign]
    doctor.outputs = {"ApiUrl": API_URL}
    with stubber:
        (check,) = doctor.api_invoke()
    return check


def test_doctor_fails_an_api_that_invokes_with_the_callers_credentials() -> None:
    check = api_check("arn:aws:iam::*:user/*")
    assert not check.ok and check.detail.startswith("2 of 2 methods invoke with the caller's credentials")
    assert "InvokeRole: NONE" in check.fix


def test_doctor_passes_an_api_that_invokes_through_the_resource_policy() -> None:
    check = api_check(None)
    assert check.ok and check.detail == "2 methods invoke through the function's resource policy"


@pytest.mark.parametrize("function", list(permissions.calls(DEPLOYMENT)))
def test_doctor_simulates_actions_without_a_resource_type_on_star(function: str) -> None:
    """AWS evaluates an action the Service Authorization Reference lists without a resource type against "*"; a
    simulation on an ARN could pass where the real call is refused."""
    wrong = [(action, resource) for action, resource in permissions.calls(DEPLOYMENT)[function]
             if iam.evaluated_resource(action, resource) != resource]
    assert wrong == []
