"""The API function against moto: validation, status codes, records always in a defined state."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from orchestrator.handlers import api
from orchestrator.settings import settings
from tests.helpers import FakeContext, proxy_event
from tests.unit.conftest import IMAGE


def call(method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> tuple[int, dict]:
    response = api.handler(proxy_event(method, path, body, query), FakeContext())
    return response["statusCode"], json.loads(response["body"])


def test_start_records_provisioning_and_starts_the_workflow(state_machine: str) -> None:
    status, body = call("POST", "/environments", {"name": "demo"})
    assert status == 202
    assert body["state"] == "PROVISIONING"
    assert body["allowCidrs"] == ["203.0.113.7/32"]  # the caller's address when none is given
    assert body["image"] == IMAGE
    execution = boto3.client("stepfunctions").describe_execution(executionArn=body["executionArn"])
    payload = json.loads(execution["input"])
    assert payload["name"] == "demo" and payload["waits"]["stackSeconds"] >= 1
    assert payload["benchmark"] == {"enabled": True, "model": "random:bert-base", "seconds": 30, "gate": False}


@pytest.mark.parametrize("second", [{"name": "demo"}, {"name": "demo", "clientToken": "attempt-2"}])
def test_another_start_while_provisioning_is_a_conflict(state_machine: str, second: dict) -> None:
    assert call("POST", "/environments", {"name": "demo", "clientToken": "attempt-1"})[0] == 202
    status, body = call("POST", "/environments", second)
    assert status == 409
    assert "PROVISIONING" in body["message"]


def test_a_retried_start_gets_the_first_answer_not_a_second_workflow(state_machine: str) -> None:
    first = call("POST", "/environments", {"name": "demo", "clientToken": "attempt-1"})
    retry = call("POST", "/environments", {"name": "demo", "clientToken": "attempt-1"})
    assert first[0] == retry[0] == 202
    assert retry[1]["executionArn"] == first[1]["executionArn"]
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=state_machine)["executions"]
    assert len(executions) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Bad_Name"}, "name"),
        ({"name": "demo", "allowCidrs": ["0.0.0.0/0"]}, "allowCidrs"),
            ({"name": "demo", "allowCidrs": ["2001:db8::/64"]}, "allowCidrs.0"),
        ({"name": "demo", "allowCidrs": ["300.1.1.1/32"]}, "allowCidrs.0"),
        ({"name": "demo", "benchmarkSeconds": 0}, "benchmarkSeconds"),
        ({"name": "demo", "clientToken": "not a token!"}, "clientToken"),
        ({}, "name"),
    ],
)
def test_invalid_body_is_a_400_naming_the_field(state_machine: str, body: dict, field: str) -> None:
    status, response = call("POST", "/environments", body)
    assert status == 400
    assert any(d.startswith(f"{field}:") for d in response["details"]), response
    assert call("GET", "/environments")[1] == {"environments": []}  # nothing half-created


@pytest.mark.parametrize(("instance_type", "message"), [("m5.large", "is not one of"), ("inf1.xlarge", "Inf2/Trn1")])
def test_unsupported_instance_types_are_a_400(state_machine: str, instance_type: str, message: str) -> None:
    status, body = call("POST", "/environments", {"name": "demo", "instanceType": instance_type})
    assert status == 400
    assert body["message"].startswith("instanceType:") and message in body["message"]


def test_body_that_is_not_json_is_a_400(state_machine: str) -> None:
    status, body = call("POST", "/environments", "not json")
    assert status == 400


def test_image_that_is_not_an_ecr_uri_fails_in_the_workflow_not_the_api(state_machine: str) -> None:
    # the API accepts any string; CheckImage names the rule (tests/unit/test_adapters.py)
    assert call("POST", "/environments", {"name": "demo", "image": "docker.io/x:1"})[0] == 202


def test_workflow_that_cannot_start_leaves_a_failed_record(tables: dict[str, str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:missing")
    monkeypatch.setenv("DEFAULT_IMAGE", IMAGE)
    settings.cache_clear()
    status, body = call("POST", "/environments", {"name": "demo"})
    assert status == 503
    assert "workflow did not start" in body["message"]
    status, record = call("GET", "/environments/demo")
    assert record["state"] == "FAILED" and "StateMachineDoesNotExist" in record["failureReason"]


def test_unknown_environment_is_a_404(tables: dict[str, str]) -> None:
    status, body = call("GET", "/environments/nothing")
    assert status == 404 and "nothing" in body["message"]


@pytest.mark.parametrize(
    ("query", "message"),
    [({"limit": "0"}, "limit: must be between"), ({"limit": "x"}, "limit: must be an integer"),
     ({"backend": "tpu"}, "backend: must be one of"), ({"nextToken": "%%%"}, "nextToken:")],
)
def test_bad_history_queries_are_a_400(tables: dict[str, str], query: dict[str, str], message: str) -> None:
    status, body = call("GET", "/benchmarks", query=query)
    assert status == 400 and body["message"].startswith(message)


def test_task_token_never_leaves_the_api(state_machine: str) -> None:
    call("POST", "/environments", {"name": "demo"})
    table = boto3.resource("dynamodb").Table(settings().environments_table)
    table.update_item(Key={"name": "demo"}, UpdateExpression="SET benchmarkTaskToken = :t",
                      ExpressionAttributeValues={":t": "secret-token"})
    assert "benchmarkTaskToken" not in call("GET", "/environments/demo")[1]
    assert "secret-token" not in json.dumps(call("GET", "/environments")[1])


def _set_state(name: str, state: str) -> None:
    boto3.resource("dynamodb").Table(settings().environments_table).update_item(
        Key={"name": name}, UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues={":s": state})


def test_restart_keeps_the_recorded_settings_and_applies_the_changes(state_machine: str) -> None:
    call("POST", "/environments", {"name": "demo", "instanceType": "trn1.2xlarge", "allowCidrs": ["198.51.100.0/24"],
                                   "idleMinutes": 30})
    _set_state("demo", "STOPPED")
    status, body = call("POST", "/environments/demo/start", {"benchmark": False, "graceMinutes": 1})
    assert status == 202 and body["state"] == "PROVISIONING"
    assert body["instanceType"] == "trn1.2xlarge" and body["allowCidrs"] == ["198.51.100.0/24"]
    assert body["idlePolicy"]["idle_minutes"] == 30 and body["idlePolicy"]["grace_minutes"] == 1
    payload = json.loads(boto3.client("stepfunctions").describe_execution(executionArn=body["executionArn"])["input"])
    assert payload["benchmark"]["enabled"] is False and payload["instanceType"] == "trn1.2xlarge"


def test_restart_without_a_body_and_its_refusals(state_machine: str) -> None:
    assert call("POST", "/environments/nothing/start")[0] == 404
    call("POST", "/environments", {"name": "demo"})
    status, body = call("POST", "/environments/demo/start")
    assert status == 409 and "PROVISIONING" in body["message"]
    _set_state("demo", "UNHEALTHY")
    assert call("POST", "/environments/demo/start", {"instanceType": "inf2.xlarge"})[0] == 400  # not changeable
    assert call("POST", "/environments/demo/start")[0] == 202


@pytest.mark.parametrize("token", ["not-base64!", "eyJ4IjogMX0=", "WzEsIDJd", "eyJzZXJpZXMiOiB7fSwgInJ1bktleSI6IDF9"])
def test_a_forged_next_token_is_a_400_naming_the_field(state_machine: str, token: str) -> None:
    """Garbage, a dict of the wrong keys, a list, and the right keys with wrong types: never a 5xx."""
    status, body = call("GET", "/benchmarks", query={"nextToken": token})
    assert status == 400 and body["message"].startswith("nextToken:")


def test_the_deployment_limits_refuse_a_start_naming_the_limit(state_machine: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_RUNNING_ENVIRONMENTS", "1")
    monkeypatch.setenv("ALLOWED_INSTANCE_TYPES", "inf2.xlarge,inf2.8xlarge")
    monkeypatch.setenv("MAX_BENCHMARK_SECONDS", "60")
    settings.cache_clear()
    status, body = call("POST", "/environments", {"name": "big", "instanceType": "trn1.32xlarge"})
    assert status == 403 and "AllowedInstanceTypes" in body["message"]
    status, body = call("POST", "/environments", {"name": "long", "benchmarkSeconds": 600})
    assert status == 403 and "MaxBenchmarkSeconds (60)" in body["message"]
    assert call("POST", "/environments", {"name": "first"})[0] == 202
    status, body = call("POST", "/environments", {"name": "second"})
    assert status == 403 and "MaxRunningEnvironments is 1" in body["message"] and "first" in body["message"]
    # nothing was created for the refused requests
    assert [e["name"] for e in call("GET", "/environments")[1]["environments"]] == ["first"]
