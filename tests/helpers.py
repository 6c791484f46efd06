"""Test helpers: moto tables built from template.yaml, so test schemas cannot drift from the deployed ones."""

from __future__ import annotations

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
