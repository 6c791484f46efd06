"""Test helpers: moto tables built from template.yaml, so test schemas cannot drift from the deployed ones."""

from __future__ import annotations

import functools
import json
from typing import Any

import boto3

from localcloud.deploy import translate

_TABLE_ENV = {"EnvironmentsTable": "ENVIRONMENTS_TABLE", "BenchmarksTable": "BENCHMARKS_TABLE",
              "ActivityTable": "ACTIVITY_TABLE",
              "IdempotencyTable": "IDEMPOTENCY_TABLE"}


def create_tables_from_template() -> dict[str, str]:
    """Create every DynamoDB table of template.yaml in moto; returns {ENV_VAR: table name}."""
    dynamodb = boto3.client("dynamodb")
    names = {}
    for logical_id, resource in translate()["Resources"].items():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        props = resource["Properties"]
        kwargs: dict[str, Any] = {k: props[k] for k in ("AttributeDefinitions", "KeySchema", "BillingMode")}
        if "GlobalSecondaryIndexes" in props:
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        table_name = f"test-{logical_id}"
        dynamodb.create_table(TableName=table_name, **kwargs)
        names[_TABLE_ENV[logical_id]] = table_name
    return names


ALICE = "arn:aws:iam::123456789012:user/alice"
# An admin of the unit tests' deployment (tests/unit/conftest.py): an admin's imports join the shared history
HISTORIAN = "arn:aws:iam::123456789012:user/historian"


@functools.cache
def _allow_list_template() -> str:
    from samtranslator.yaml_helper import yaml_parse

    from localcloud.deploy import ROOT

    resources = yaml_parse((ROOT / "nested" / "notebook.yml").read_text())["Resources"]
    return str(resources["AllowList"]["Properties"]["FunctionCode"]["Fn::Sub"][0])


def allow_list_code(environment: str, cidrs: list[str]) -> str:
    """The code of an environment's CloudFront function (nested/notebook.yml, AllowList) as its stack deploys it."""
    return _allow_list_template().replace("${EnvironmentName}", environment).replace("${Cidrs}", ",".join(cidrs))


def proxy_event(method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
                source_ip: str = "203.0.113.7", caller: str | None = ALICE) -> dict[str, Any]:
    """What API Gateway passes the function for a request SigV4-signed by `caller` (AWS_IAM auth)."""
    return {
        "resource": path, "path": path, "httpMethod": method, "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {}, "queryStringParameters": query, "multiValueQueryStringParameters": None,
        "pathParameters": None, "stageVariables": None, "isBase64Encoded": False,
        "body": body if isinstance(body, str) or body is None else json.dumps(body),
        "requestContext": {"resourcePath": path, "httpMethod": method, "path": f"/v1{path}", "stage": "v1",
                           "requestId": "test", "accountId": "123456789012", "apiId": "test",
                           "identity": {"sourceIp": source_ip, **({"userArn": caller} if caller else {})}},
    }


class FakeContext:
    function_name = "test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    memory_limit_in_mb = 128
    aws_request_id = "test-request"
    log_group_name = "/aws/lambda/test"
    log_stream_name = "test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30000


def workflow_state(**fields: Any) -> Any:
    """A provisioning workflow state as the API starts it for environment `demo`, with `fields` added or replaced."""
    from orchestrator.models.workflow import WorkflowState, parse

    return parse({"name": "demo", "instanceType": "inf2.xlarge", "image": {"digest": "sha256:real"}, "benchmark": {},
                  "timeouts": {"stackSeconds": 60, "notebookSeconds": 60, "benchmarkSeconds": 60,
                               "benchmarkHeartbeatSeconds": 60}, **fields}, WorkflowState)


class InProcessApi:
    """A CLI target that answers from the API function in this process (under moto, tables from the template):
    the CLI's commands end to end without a server. Not LocalCloud: no API Gateway, no SigV4."""

    api_url = "in-process"

    def __init__(self, caller: str = ALICE) -> None:
        self.caller = caller

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                params: dict[str, str] | None = None) -> Any:
        from neuronlab.client import ApiError
        from orchestrator.handlers import api

        response = api.handler(proxy_event(method, path, body, params, caller=self.caller), FakeContext())
        payload = json.loads(response["body"]) if response.get("body") else {}
        if response["statusCode"] >= 400:
            raise ApiError(response["statusCode"], payload)
        return payload


def synthetic_history(target: InProcessApi, runs: int = 30, seed: int = 1) -> dict[str, str]:
    """Import a history a person would want to look at: one series whose throughput drops 10 % when the compiler
    changes at run runs//2, with one outlier before it and one run with wrong outputs after it; and the model on
    four more instance types (one on CPU). Every run carries a latency histogram. Returns run ids by role."""
    import numpy as np
    from neuronlab_core import latency

    noise = np.random.default_rng(seed)

    def run(run_id: str, minute: int, throughput: float, p50_ms: float, **overrides: Any) -> dict[str, Any]:
        latencies = noise.gamma(16.0, p50_ms / 16.0, 2000)
        at = f"2026-11-{1 + minute // 1440:02d}T{minute // 60 % 24:02d}:{minute % 60:02d}:00+00:00"
        result = {"run_id": run_id, "model": "random:bert-base", "backend": "neuron", "instance_type": "inf2.xlarge",
                  "batch_size": 1, "sequence_length": 128, "warmup": 8, "duration_s": 30.0,
                  "inferences": int(throughput * 30), "throughput": throughput,
                  "latency_ms": {k: float(np.percentile(latencies, q)) for k, q in
                                 (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("p999", 99.9))},
                  "histogram": latency.encode(int(v * 1e6) for v in latencies),
                  "correctness": {"max_abs_diff": 0.001, "classes_agree": True, "tolerance": 0.05},
                  "versions": {"torch-neuronx": "2.9.0", "neuronx-cc": "2.21"}, "started_at": at, "finished_at": at}
        return {**result, **overrides}

    roles: dict[str, str] = {}
    change = runs // 2
    for i in range(runs):
        after = i >= change
        throughput = noise.normal(1800.0 if after else 2000.0, 30.0) * (0.8 if i == change // 2 else 1.0)
        overrides: dict[str, Any] = {"versions": {"torch-neuronx": "2.9.0", "neuronx-cc": "2.22"}} if after else {}
        if i == change + 4:
            overrides["correctness"] = {"max_abs_diff": 0.4, "classes_agree": False, "tolerance": 0.05}
        target.request("POST", "/benchmarks", run(f"series-{i:02d}", 60 * i, throughput,
                                                  0.55 if after else 0.50, **overrides))
    roles.update(before=f"series-{change - 1:02d}", after=f"series-{change + 1:02d}")
    for n, (instance_type, backend, throughput, p50) in enumerate([
            ("inf2.8xlarge", "neuron", 2100.0, 0.47), ("inf2.24xlarge", "neuron", 2150.0, 0.46),
            ("trn1.2xlarge", "neuron", 2300.0, 0.42), ("inf2.xlarge", "cpu", 60.0, 16.0)]):
        for i in range(3):
            target.request("POST", "/benchmarks", run(f"{instance_type}-{backend}-{i}", 60 * (runs + 3 * n + i),
                                                      noise.normal(throughput, 20.0), p50,
                                                      instance_type=instance_type, backend=backend))
    return roles
