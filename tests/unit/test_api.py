"""The API function against moto: validation, status codes, records always in a defined state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from orchestrator.domain import environments
from orchestrator.handlers import api
from orchestrator.settings import settings
from tests.helpers import ALICE, HISTORIAN, FakeContext, proxy_event
from tests.unit.conftest import IMAGE


def call(method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
         caller: str | None = ALICE) -> tuple[int, dict]:
    response = api.handler(proxy_event(method, path, body, query, caller=caller), FakeContext())
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
    assert payload["benchmark"] == {"enabled": True, "model": "random:bert-base", "seconds": 30, "scenario": "latency",
                                    "gate": False}


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


@pytest.mark.parametrize(("image", "rule"), [
    ("docker.io/x:1", "image: Value error, not an ECR image URI"),
    ("999999999999.dkr.ecr.us-east-1.amazonaws.com/neuronlab:v1", "is in account 999999999999's ECR"),
])
def test_an_image_outside_this_accounts_ecr_is_a_400_not_a_failed_start(state_machine: str, image: str,
                                                                        rule: str) -> None:
    status, body = call("POST", "/environments", {"name": "demo", "image": image})
    assert status == 400 and rule in json.dumps(body), body
    assert call("GET", "/environments")[1] == {"environments": []}


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
    [({"limit": "0"}, "limit: Input should be greater than or equal to 1"),
     ({"limit": "x"}, "limit: Input should be a valid integer"),
     ({"backend": "tpu"}, "backend: Input should be 'neuron', 'cuda' or 'cpu'"), ({"nextToken": "%%%"}, "nextToken:")],
)
def test_bad_history_queries_are_a_400(tables: dict[str, str], query: dict[str, str], message: str) -> None:
    status, body = call("GET", "/benchmarks", query=query)
    assert status == 400
    assert body["message"].startswith(message) or any(d.startswith(message) for d in body["details"]), body


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
    assert status == 403 and "MaxRunningEnvironments is 1" in body["message"]
    # nothing was created for the refused requests
    assert [e["name"] for e in call("GET", "/environments")[1]["environments"]] == ["first"]


def _holding(name: str, owner: str, state: str) -> None:
    """A record of an environment whose stacks exist (its deploy step recorded the stack)."""
    boto3.resource("dynamodb").Table(settings().environments_table).put_item(Item={
        "name": name, "owner": owner, "state": state, "stackName": f"neuronlab-env-{name}",
        "instanceType": "inf2.xlarge", "createdAt": "2026-12-01T00:00:00+00:00",
        "updatedAt": "2026-12-01T00:00:00+00:00"})


def test_a_start_past_an_account_ceiling_is_refused_before_anything_is_created(
        state_machine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """CloudFront associates at most 50 distributions with one VPC origin (not adjustable): the 51st environment
    holding stacks would fail halfway through its stack; it is a 403 naming the ceiling and what to delete."""
    monkeypatch.setenv("MAX_RUNNING_ENVIRONMENTS", "100")  # the deployment's own limits are not what is tested
    settings.cache_clear()
    # Given 50 environments holding their stacks: 48 of someone else's (running or not), 2 of alice's, stopped
    for number in range(48):
        _holding(f"other-{number}", BOB, "READY" if number % 2 else "STOPPED")
    _holding("old-a", ALICE, "STOPPED")
    _holding("old-b", ALICE, "FAILED")
    _holding("gone", ALICE, "DELETED")  # its stacks were deleted: it counts for nothing
    # When alice starts a new one
    status, body = call("POST", "/environments", {"name": "fifty-first"})
    # Then it is refused, naming the ceiling and alice's own environments she could delete (never bob's)
    assert status == 403
    assert "50 environments hold their stacks" in body["message"]
    assert "50 distributions associated with one CloudFront VPC origin (not adjustable)" in body["message"]
    assert "neuronlab delete NAME" in body["message"] and "old-a, old-b" in body["message"]
    assert "other-" not in body["message"]
    assert call("GET", "/environments/fifty-first")[0] == 404  # nothing was created
    # while a warm start of an environment that holds its stacks takes nothing more
    assert call("POST", "/environments/old-a/start")[0] == 202
    # and once one is deleted, a new one may start
    _set_state("old-b", "DELETED")
    assert call("POST", "/environments", {"name": "fifty-first"})[0] == 202


BOB = "arn:aws:iam::123456789012:user/bob"
ADMIN = "arn:aws:sts::123456789012:assumed-role/NeuronLabAdmin/carol"


@pytest.fixture
def admins(state_machine: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ADMIN_PRINCIPALS", "arn:aws:sts::123456789012:assumed-role/NeuronLabAdmin/*")
    settings.cache_clear()
    return state_machine


def test_an_environment_is_its_owners_alone(admins: str) -> None:
    created = call("POST", "/environments", {"name": "mine"})[1]
    assert created["owner"] == ALICE and created["updatedBy"] == ALICE
    for method, path in [("GET", "/environments/mine"), ("POST", "/environments/mine/stop"),
                         ("DELETE", "/environments/mine"), ("GET", "/environments/mine/token"),
                         ("POST", "/environments/mine/start")]:
        status, body = call(method, path, caller=BOB)
        assert status == 403, (method, path, body)
        assert f"belongs to {ALICE}" in body["message"]
    status, body = call("POST", "/environments", {"name": "mine", "instanceType": "inf2.8xlarge"}, caller=BOB)
    assert status == 409 and f"in use by {ALICE}" in body["message"]
    assert call("GET", "/environments", caller=BOB)[1] == {"environments": []}
    record = call("GET", "/environments/mine")[1]
    assert record["state"] == "PROVISIONING" and record["instanceType"] == "inf2.xlarge"  # nothing bob did stuck


def test_an_admin_sees_and_acts_on_every_environment(admins: str) -> None:
    call("POST", "/environments", {"name": "alices"})
    call("POST", "/environments", {"name": "bobs"}, caller=BOB)
    assert [e["name"] for e in call("GET", "/environments", caller=ADMIN)[1]["environments"]] == ["alices", "bobs"]
    assert [e["name"] for e in call("GET", "/environments", caller=BOB)[1]["environments"]] == ["bobs"]
    status, stopped = call("POST", "/environments/bobs/stop", caller=ADMIN)
    assert status == 200 and stopped["state"] == "STOPPED"
    assert stopped["owner"] == BOB and stopped["updatedBy"] == ADMIN  # the audit trail: who stopped it


def test_a_request_without_a_caller_is_refused(state_machine: str) -> None:
    status, body = call("POST", "/environments", {"name": "anonymous"}, caller=None)
    assert status == 403 and "identity" in body["message"]
    assert call("GET", "/environments")[1] == {"environments": []}


def test_each_caller_has_a_limit_of_running_environments(state_machine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_ENVIRONMENTS_PER_CALLER", "1")
    settings.cache_clear()
    assert call("POST", "/environments", {"name": "one"})[0] == 202
    status, body = call("POST", "/environments", {"name": "two"})
    assert status == 403 and "MaxEnvironmentsPerCaller is 1" in body["message"] and "one" in body["message"]
    assert call("POST", "/environments", {"name": "two"}, caller=BOB)[0] == 202  # another person's own limit


def test_the_token_is_read_by_the_environments_name_and_logged(state_machine: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    call("POST", "/environments", {"name": "demo"})
    status, body = call("GET", "/environments/demo/token")
    assert status == 409 and "no token" in body["message"]  # not provisioned yet
    secrets = boto3.client("secretsmanager")
    real = secrets.create_secret(Name="neuronlab/demo/jupyter-token", SecretString="the-token")["ARN"]
    secrets.create_secret(Name="neuronlab/other/jupyter-token", SecretString="someone-elses")
    # a record pointing elsewhere changes nothing: the secret's name comes from the environment's name
    boto3.resource("dynamodb").Table(settings().environments_table).update_item(
        Key={"name": "demo"}, UpdateExpression="SET tokenSecretArn = :a",
        ExpressionAttributeValues={":a": real.replace("demo", "other")})
    logged: list[tuple[str, dict]] = []
    monkeypatch.setattr(environments.logger, "info", lambda message, extra: logged.append((message, extra)))
    assert call("GET", "/environments/demo/token") == (200, {"token": "the-token"})
    assert ("token read", {"environment": "demo", "caller": ALICE}) in logged


def test_a_duration_too_small_for_dynamodb_is_rounded_not_a_500(state_machine: str) -> None:
    """Found by the fuzz: graceMinutes 6e-274 made DynamoDB's number type underflow (a 500)."""
    status, body = call("POST", "/environments", {"name": "tiny", "graceMinutes": 6.05915560185398e-274})
    assert status == 202 and body["idlePolicy"]["grace_minutes"] == 0
    status, body = call("POST", "/environments", {"name": "tinier", "idleMinutes": 1e-200})
    assert status == 400 and body["details"] == ["idleMinutes: Input should be greater than 0"]


def test_every_request_leaves_an_access_log_line(state_machine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    logged: list[tuple[str, dict]] = []
    monkeypatch.setattr(api.logger, "info", lambda message, extra=None: logged.append((message, extra or {})))
    monkeypatch.setattr(api.logger, "append_keys", lambda **keys: logged.append(("keys", keys)))
    call("GET", "/environments/nothing", caller=BOB)
    assert ("keys", {"path": "/environments/nothing", "caller": BOB}) in logged
    line = next(extra for message, extra in logged if message == "request")
    assert line["method"] == "GET" and line["status"] == 404 and line["sourceIp"] == "203.0.113.7"


def _ready(name: str, owner: str = ALICE) -> None:
    call("POST", "/environments", {"name": name}, caller=owner)
    boto3.resource("dynamodb").Table(settings().environments_table).update_item(
        Key={"name": name}, UpdateExpression="SET #s = :s, imageDigest = :d REMOVE executionArn",
        ExpressionAttributeNames={"#s": "state"}, ExpressionAttributeValues={":s": "READY", ":d": "sha256:abc"})


def test_a_benchmark_on_demand_runs_the_benchmark_branch_one_at_a_time(state_machine: str) -> None:
    _ready("demo")
    status, record = call("POST", "/environments/demo/benchmarks", {"model": "random:bert-tiny", "seconds": 5})
    assert status == 202 and record["state"] == "READY"
    run = record["benchmarkRun"]
    payload = json.loads(boto3.client("stepfunctions").describe_execution(executionArn=run["executionArn"])["input"])
    assert payload["mode"] == "benchmark" and payload["image"] == {"digest": "sha256:abc"}
    assert payload["benchmark"] == {"enabled": True, "model": "random:bert-tiny", "seconds": 5,
                                    "scenario": "latency", "gate": False}
    status, body = call("POST", "/environments/demo/benchmarks", {})  # the first one still runs
    assert status == 409 and run["executionArn"] in body["message"]


def test_a_benchmark_on_demand_is_refused_naming_why(state_machine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_BENCHMARK_SECONDS", "60")
    settings.cache_clear()
    call("POST", "/environments", {"name": "starting"})
    status, body = call("POST", "/environments/starting/benchmarks", {})
    assert status == 409 and "PROVISIONING" in body["message"] and "READY" in body["message"]
    _ready("demo")
    assert call("POST", "/environments/demo/benchmarks", {}, caller=BOB)[0] == 403
    status, body = call("POST", "/environments/demo/benchmarks", {"seconds": 600})
    assert status == 403 and "MaxBenchmarkSeconds (60)" in body["message"]
    status, body = call("POST", "/environments/demo/benchmarks", {"scenario": "fastest"})
    assert status == 400 and body["details"][0].startswith("scenario:")
    assert "benchmarkRun" not in call("GET", "/environments/demo")[1]


@pytest.mark.parametrize(("claimed_minutes_ago", "status"), [(0, 409), (10, 202)])
def test_a_claimed_benchmark_whose_workflow_never_started(state_machine: str, claimed_minutes_ago: int,
                                                          status: int) -> None:
    """Between the claim and StartExecution (or when StartExecution failed and the claim stayed), the execution
    does not exist: a fresh claim still holds the slot (409, not a 500), a stale one is replaced."""
    _ready("demo")
    claimed = datetime.now(UTC) - timedelta(minutes=claimed_minutes_ago)
    missing = state_machine.replace(":stateMachine:", ":execution:") + ":demo-bench-never"
    boto3.resource("dynamodb").Table(settings().environments_table).update_item(
        Key={"name": "demo"}, UpdateExpression="SET benchmarkRun = :r", ExpressionAttributeValues={":r": {
            "executionArn": missing, "model": "random:bert-base", "seconds": 30, "startedAt": claimed.isoformat(),
            "deadline": claimed.isoformat()}})
    answer, body = call("POST", "/environments/demo/benchmarks", {})
    assert answer == status, body


def test_every_history_listing_is_a_query_that_reads_only_what_it_returns(tables: dict[str, str]) -> None:
    """No FilterExpression: DynamoDB reads exactly the items a page returns (ScannedCount = Count)."""
    table = boto3.resource("dynamodb").Table(settings().benchmarks_table)
    for i, (model, instance_type, environment, batch) in enumerate([("m1", "inf2.xlarge", "env-a", 1),
                                                                    ("m2", "inf2.xlarge", "env-a", 1),
                                                                    ("m1", "trn1.2xlarge", "env-b", 1),
                                                                    ("m1", "trn1.2xlarge", "env-b", 4)]):
        table.put_item(Item={"series": f"{model}#{instance_type}#neuron#b{batch}#s128#float32#p1#latency",
                             "runKey": f"2026-11-27T0{i}#r{i}", "kind": "benchmark", "model": model,
                             "instance_type": instance_type, "backend": "neuron", "environment": environment})
    table.put_item(Item={"series": "#regressions", "runKey": "2026-11-27T00#r0#throughput", "kind": "regression"})
    seen: list[dict[str, Any]] = []
    query = type(table).query

    def recording(self: Any, **kwargs: Any) -> Any:
        response = query(self, **kwargs)
        seen.append({**kwargs, "scanned": response["ScannedCount"], "count": response["Count"]})
        return response

    listings = {(): 4, (("model", "m1"),): 3, (("environment", "env-a"),): 2,
                (("model", "m1"), ("instanceType", "trn1.2xlarge"), ("backend", "neuron")): 1,
                (("model", "m1"), ("instanceType", "trn1.2xlarge"), ("backend", "neuron"), ("batchSize", "4")): 1}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(table), "query", recording)
        for params, expected in listings.items():
            status, body = call("GET", "/benchmarks", query=dict(params))
            assert status == 200 and len(body["benchmarks"]) == expected, (params, body)
    assert all("FilterExpression" not in q and q["scanned"] == q["count"] for q in seen), seen
    status, body = call("GET", "/benchmarks", query={"instanceType": "inf2.xlarge"})
    assert status == 400 and body["message"].startswith("instanceType, backend, workload: narrow a model's history")
    status, body = call("GET", "/benchmarks", query={"model": "m1", "scenario": "throughput"})
    assert status == 400 and "give model, instanceType and backend together" in body["message"]
    status, body = call("GET", "/benchmarks", query={"environment": "env-a", "model": "m1"})
    assert status == 400 and body["message"].startswith("environment:")


def test_regressions_are_listed_since_a_time_and_the_window_is_validated(tables: dict[str, str]) -> None:
    table = boto3.resource("dynamodb").Table(settings().benchmarks_table)
    for days_ago in (2, 40):
        at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
        table.put_item(Item={"series": "#regressions", "runKey": f"{at}#r{days_ago}#throughput",
                             "kind": "regression", "firstRun": f"{at}#r{days_ago}", "measure": "throughput"})
    status, body = call("GET", "/benchmarks/regressions")
    assert status == 200 and [r["firstRun"].endswith("#r2") for r in body["regressions"]] == [True]
    assert len(call("GET", "/benchmarks/regressions", query={"since": "60d"})[1]["regressions"]) == 2
    status, body = call("GET", "/benchmarks/regressions", query={"since": "30 days"})
    assert status == 400 and body["details"][0].startswith("since:")


def _harness_result(run_id: str, throughput: float, environment: str | None = None) -> dict[str, Any]:
    at = "2026-11-20T10:00:00+00:00"
    return {"run_id": run_id, "model": "random:bert-base", "backend": "neuron", "instance_type": "inf2.xlarge",
            "batch_size": 1, "sequence_length": 128, "warmup": 8, "duration_s": 30.0, "inferences": 30000,
            "throughput": throughput, "latency_ms": {"p50": 1.0, "p90": 1.1, "p95": 1.2, "p99": 1.3, "p999": 1.5},
            "versions": {"neuronx-cc": "2.15"}, "environment": environment, "started_at": at, "finished_at": at}


def test_an_imported_result_is_judged_like_a_workflow_run_and_recorded_once(state_machine: str) -> None:
    shared = "random:bert-base#inf2.xlarge#neuron#b1#s128#float32#p1#latency"
    # an admin's import joins the shared series, as a workflow run does
    status, body = call("POST", "/benchmarks", _harness_result("by-hand-1", 1000.0), caller=HISTORIAN)
    assert status == 201, body
    assert body["series"] == shared and body["verdict"] == "baseline"
    item = boto3.resource("dynamodb").Table(settings().benchmarks_table).get_item(
        Key={"series": body["series"], "runKey": body["runKey"]})["Item"]
    assert item["importedBy"] == HISTORIAN and float(item["cost_per_million_usd"]) > 0
    status, again = call("POST", "/benchmarks", _harness_result("by-hand-1", 1000.0), caller=HISTORIAN)
    assert status == 409 and "already in the history" in again["message"]
    listed = call("GET", "/benchmarks", query={"model": "random:bert-base", "instanceType": "inf2.xlarge",
                                                 "backend": "neuron"})[1]["benchmarks"]
    assert [b["run_id"] for b in listed] == ["by-hand-1"]
    # anyone else's is judged against it, and kept in their own series
    status, body = call("POST", "/benchmarks", {**_harness_result("by-hand-2", 500.0),
                                                "started_at": "2026-11-20T11:00:00+00:00"})
    assert status == 201 and body["series"] == f"{shared}#imported-by#{ALICE}"
    assert call("GET", "/benchmarks/runs/by-hand-2")[1]["importedBy"] == ALICE


def test_anyone_elses_import_changes_nothing_others_see_or_are_judged_against(state_machine: str) -> None:
    """An import that names no environment is anyone's to make: it must not become the baseline, confirm a change,
    raise a regression, head a series from the future, or put an unknown instance type into the comparison."""
    def at(minute: int) -> str:
        return f"2026-11-20T{10 + minute // 60:02d}:{minute % 60:02d}:00+00:00"

    # Given a shared history at 1000/s
    for minute in range(8):
        result = {**_harness_result(f"shared-{minute}", 1000.0 + minute % 3), "started_at": at(minute)}
        assert call("POST", "/benchmarks", result, caller=HISTORIAN)[0] == 201
    compared = call("GET", "/benchmarks/compare", query={"model": "random:bert-base"})[1]["configurations"]
    # When alice imports a collapse to 100/s, one dated 2099, one on an unknown instance type and a CUDA run
    for minute in range(8, 16):
        result = {**_harness_result(f"forged-{minute}", 100.0), "started_at": at(minute)}
        assert call("POST", "/benchmarks", result)[0] == 201
    status, body = call("POST", "/benchmarks", {**_harness_result("future", 1.0), "started_at": "2099-01-01T00:00:00Z",
                                                "finished_at": "2099-01-01T00:00:00Z"})
    assert status == 400 and body["message"].startswith("started_at: 2099-01-01T00:00:00+00:00 is in the future")
    status, body = call("POST", "/benchmarks", {**_harness_result("odd", 1.0), "instance_type": "x9.huge"})
    assert status == 400 and "x9.huge" in body["message"] and "inf2.xlarge" in body["message"]
    status, body = call("POST", "/benchmarks", {**_harness_result("gpu", 1.0), "backend": "cuda"})
    assert status == 400 and body["message"].startswith("backend: cuda runs cannot be on inf2.xlarge")
    assert call("GET", "/benchmarks/compare", query={"model": "random:bert-base"})[1]["configurations"] == compared
    # Then the next shared run is judged against the shared history alone, and nothing shared changed
    status, body = call("POST", "/benchmarks", {**_harness_result("shared-next", 1001.0), "started_at": at(20)},
                        caller=HISTORIAN)
    assert status == 201 and body["verdict"] not in ("regression", "improvement") and body["confirmed"] == []
    assert call("GET", "/benchmarks/regressions")[1]["regressions"] == []
    (level,) = call("GET", "/benchmarks/compare", query={"model": "random:bert-base"})[1]["configurations"]
    assert level["runs"] == 9 and level["throughput"] > 990  # the shared runs alone
    listed = call("GET", "/benchmarks", query={"model": "random:bert-base", "instanceType": "inf2.xlarge",
                                                 "backend": "neuron"})[1]["benchmarks"]
    assert not [b["run_id"] for b in listed if not b["run_id"].startswith("shared-")]


def test_an_import_is_refused_naming_the_rule(state_machine: str) -> None:
    call("POST", "/environments", {"name": "alices"})
    incomplete = {k: v for k, v in _harness_result("x", 1.0).items() if k != "latency_ms"}
    status, body = call("POST", "/benchmarks", incomplete)
    assert status == 400 and body["details"] == ["latency_ms: Field required"]
    status, body = call("POST", "/benchmarks", _harness_result("x", 1.0, environment="alices"), caller=BOB)
    assert status == 403 and "only its owner or an admin may import a run into it" in body["message"]
    status, body = call("POST", "/benchmarks", {**_harness_result("x", 1.0), "run_id": "a/b"})
    assert status == 400 and body["details"][0].startswith("run_id: String should match pattern")
    status, body = call("POST", "/benchmarks", _harness_result("x", 1e200))  # DynamoDB keeps below 1e126
    assert status == 400 and body["details"][0].startswith("throughput: Input should be less than or equal to")
    padded = json.dumps(_harness_result("x", 1.0)) + " " * 300_000  # valid JSON, too large a document
    status, body = call("POST", "/benchmarks", padded)
    assert status == 400 and "an imported result included) is at most 262144" in body["message"]
    assert boto3.resource("dynamodb").Table(settings().benchmarks_table).scan()["Count"] == 0


def test_a_models_instance_types_are_compared_cheapest_first_from_their_current_level(state_machine: str) -> None:
    runs = [("a", "inf2.xlarge", "neuron", 1000.0), ("b", "inf2.xlarge", "neuron", 1010.0),
            ("c", "inf2.xlarge", "neuron", 990.0), ("d", "inf2.8xlarge", "neuron", 4000.0),
            ("e", "inf2.xlarge", "cpu", 50.0)]
    for minute, (run_id, instance_type, backend, throughput) in enumerate(runs):
        result = {**_harness_result(run_id, throughput), "instance_type": instance_type, "backend": backend,
                  "started_at": f"2026-11-20T10:0{minute}:00+00:00"}
        assert call("POST", "/benchmarks", result, caller=HISTORIAN)[0] == 201
    status, body = call("GET", "/benchmarks/compare", query={"model": "random:bert-base"})
    assert status == 200
    rows = [(c["instance_type"], c["backend"], c["runs"], c["throughput"], c["cost_per_million_usd"])
            for c in body["configurations"]]
    per_million = {t: hourly / (tp * 3600) * 1e6 for t, hourly, tp in
                   (("inf2.xlarge", 0.7582, 1000.0), ("inf2.8xlarge", 1.9679, 4000.0))}
    assert rows == [("inf2.8xlarge", "neuron", 1, 4000.0, pytest.approx(per_million["inf2.8xlarge"], rel=1e-4)),
                    ("inf2.xlarge", "neuron", 3, 1000.0, pytest.approx(per_million["inf2.xlarge"], rel=1e-4)),
                    ("inf2.xlarge", "cpu", 1, 50.0, None)]  # a CPU run is not priced: last
    # the comparison items are no runs: they are in no listing of runs
    assert {b["run_id"] for b in call("GET", "/benchmarks", query={"model": "random:bert-base"})[1]["benchmarks"]} \
        == {"a", "b", "c", "d", "e"}
    assert call("GET", "/benchmarks/compare", query={"model": "unknown"})[1]["configurations"] == []


def _with_latencies(run_id: str, latencies_ms: list[float], minute: int, **overrides: Any) -> dict[str, Any]:
    from neuronlab_core import latency

    return {**_harness_result(run_id, 1000.0 / (sum(latencies_ms) / len(latencies_ms))),
            "histogram": latency.encode(int(ms * 1e6) for ms in latencies_ms),
            "started_at": f"2026-11-20T10:{minute:02d}:00+00:00", **overrides}


def test_two_runs_are_compared_per_configuration_from_their_histograms(state_machine: str) -> None:
    import numpy as np

    noise = np.random.default_rng(7)
    base = list(noise.normal(1.0, 0.03, 5000))
    assert call("POST", "/benchmarks", _with_latencies("before", base, 0))[0] == 201
    slower = list(noise.normal(1.2, 0.03, 5000))  # 20 % slower, with a new compiler
    assert call("POST", "/benchmarks", _with_latencies("after", slower, 1, versions={"neuronx-cc": "2.16"}))[0] == 201
    assert call("POST", "/benchmarks", _with_latencies("again", list(noise.normal(1.0, 0.03, 5000)), 2))[0] == 201

    status, body = call("GET", "/benchmarks/runs/before/compare", query={"to": "after"})
    assert status == 200, body
    headline = body["configurations"][0]
    assert headline["configuration"] == "headline" and headline["latency"]["verdict"] == "slower"
    assert headline["latency"]["p50Change"] == pytest.approx(0.2, abs=0.01)
    assert headline["latency"]["pValue"] < 1e-6 and headline["latency"]["probabilityOfSlower"] > 0.99
    assert headline["throughput"][2] == pytest.approx(1 / 1.2, rel=0.02)
    assert body["differences"] == {"neuronx-cc": ["2.15", "2.16"]} and body["sameSeries"] is True
    # the same code on the same machine: no difference, whichever way round
    same = call("GET", "/benchmarks/runs/again/compare", query={"to": "before"})[1]["configurations"][0]["latency"]
    assert same["verdict"] == "same" and 0.4 < same["probabilityOfSlower"] < 0.6
    # one run, with its histogram; unknown runs are a 404, a malformed id a 400
    assert call("GET", "/benchmarks/runs/after")[1]["versions"] == {"neuronx-cc": "2.16"}
    status, body = call("GET", "/benchmarks/runs/before/compare", query={"to": "nothing"})
    assert status == 404 and "run 'nothing'" in body["message"]
    assert call("GET", "/benchmarks/runs/before/compare", query={"to": "a b"})[0] == 400


def test_a_run_without_histograms_is_compared_by_its_percentiles_alone(state_machine: str) -> None:
    assert call("POST", "/benchmarks", _harness_result("old", 1000.0))[0] == 201
    assert call("POST", "/benchmarks", _with_latencies("new", [1.0] * 100, 5))[0] == 201
    row = call("GET", "/benchmarks/runs/old/compare", query={"to": "new"})[1]["configurations"][0]
    assert row["latency"]["verdict"] == "unknown" and row["p50"] == [1.0, 1.0, 1.0]


def test_an_imported_run_with_wrong_outputs_is_recorded_as_a_regression(state_machine: str) -> None:
    wrong = {**_harness_result("wrong", 1000.0), "correctness": {"max_abs_diff": 0.9, "classes_agree": False,
                                                                 "tolerance": 0.05}}
    status, body = call("POST", "/benchmarks", wrong, caller=HISTORIAN)
    assert status == 201 and body["verdict"] == "incorrect"
    regressions = call("GET", "/benchmarks/regressions")[1]["regressions"]
    assert [(r["measure"], r["maxAbsDiff"], r["classesAgree"]) for r in regressions] == [("correctness", 0.9, False)]
    # a run id names one run: importing another run under it is refused
    status, body = call("POST", "/benchmarks", {**_harness_result("wrong", 1.0), "started_at": "2026-11-21T00:00:00Z"},
                        caller=HISTORIAN)
    assert status == 409 and "names another run" in body["message"]


def test_the_instance_type_comparison_is_paged_and_names_its_workload(state_machine: str) -> None:
    for minute, instance_type in enumerate(("inf2.xlarge", "inf2.8xlarge", "trn1.2xlarge")):
        result = {**_harness_result(f"r{minute}", 1000.0), "instance_type": instance_type, "batch_size": 4,
                  "started_at": f"2026-11-20T10:0{minute}:00+00:00"}
        assert call("POST", "/benchmarks", result, caller=HISTORIAN)[0] == 201
    assert call("GET", "/benchmarks/compare", query={"model": "random:bert-base"})[1]["configurations"] == []
    seen, token = [], None
    while True:
        query = {"model": "random:bert-base", "batchSize": "4", "limit": "2", **({"nextToken": token} if token else {})}
        status, body = call("GET", "/benchmarks/compare", query=query)
        assert status == 200 and len(body["configurations"]) <= 2 and body["workload"]["batch_size"] == 4
        seen += [c["instance_type"] for c in body["configurations"]]
        token = body.get("nextToken")
        if not token:
            break
    assert sorted(seen) == ["inf2.8xlarge", "inf2.xlarge", "trn1.2xlarge"]


def _raw(method: str, path: str, body: str, content_type: str | None) -> tuple[int, dict]:
    event = proxy_event(method, path, body)
    event["headers"] = {"Content-Type": content_type} if content_type else {}
    response = api.handler(event, FakeContext())
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_a_body_that_is_not_json_by_its_content_type_is_a_400_naming_it(state_machine: str,
                                                                        content_type: str) -> None:
    status, body = _raw("POST", "/environments", json.dumps({"name": "typed"}), content_type)
    assert status == 400 and body["message"].startswith(f"Content-Type: {content_type} is not accepted")
    assert call("GET", "/environments/typed")[0] == 404  # nothing was created
    # JSON by its type (with a charset, or a +json type) and a body without a type are read as before
    assert _raw("POST", "/environments", json.dumps({"name": "typed"}), "application/json; charset=utf-8")[0] == 202


def test_json_nested_too_deep_is_a_400_and_still_leaves_an_access_line(state_machine: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    logged: list[dict] = []
    monkeypatch.setattr(api.logger, "info", lambda message, extra=None: logged.append(extra or {}))
    deep = "[" * 1000 + "]" * 1000
    status, body = _raw("POST", "/environments", deep, "application/json")
    assert status == 400 and body["message"].startswith("body: JSON nested deeper than")
    assert any(line.get("status") == 400 and line.get("method") == "POST" for line in logged)


def test_a_crafted_histogram_is_refused_before_it_costs_memory(state_machine: str) -> None:
    """A 52-character histogram claiming 5 significant digits over the widest range made hdrh allocate 47 MiB
    before its parameters were checked: 64 of them in one import kill a 512 MB function. The header is read first."""
    import tracemalloc

    from hdrh.histogram import HdrHistogram

    crafted = HdrHistogram(1, 2**62, 5)
    crafted.record_value(1)
    text = crafted.encode().decode()
    point = {"models": 1, "threads": 1, "inferences": 10, "duration_s": 1.0, "throughput": 10.0,
             "latency_ms": {"p50": 1.0, "p90": 1.1, "p95": 1.2, "p99": 1.3, "p999": 1.5}, "histogram": text}
    result = {**_harness_result("crafted", 1.0), "sweep": [point] * 64}
    tracemalloc.start()
    try:
        status, body = call("POST", "/benchmarks", result)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status == 400 and "significant digits is expected" in json.dumps(body)
    assert peak < 32 * 1024 * 1024, f"{peak / 2**20:.1f} MiB to refuse it"
