from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from orchestrator.adapters import aws
from orchestrator.settings import settings
from tests.helpers import HISTORIAN, create_tables_from_template

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/neuronlab:latest"


@pytest.fixture
def tables(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """moto with the template's tables; settings point at them."""
    with mock_aws():
        aws.reset()
        names = create_tables_from_template()
        for key, value in names.items():
            monkeypatch.setenv(key, value)
        # the API's other required settings; `state_machine` points STATE_MACHINE_ARN at a real one
        monkeypatch.setenv("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:none")
        monkeypatch.setenv("ENVIRONMENT_STACK_ROLE_ARN", "arn:aws:iam::123456789012:role/neuronlab-stacks")
        monkeypatch.setenv("ADMIN_PRINCIPALS", HISTORIAN)  # its imports make the shared history tests read
        settings.cache_clear()
        yield names
        settings.cache_clear()
        aws.reset()


@pytest.fixture
def state_machine(tables: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """A recording-only state machine (executions are not run here; tests/workflow runs the real one)."""
    arn = boto3.client("stepfunctions").create_state_machine(
        name="provision", roleArn="arn:aws:iam::123456789012:role/sfn",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}))["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    monkeypatch.setenv("DEFAULT_IMAGE", IMAGE)
    settings.cache_clear()
    return arn
