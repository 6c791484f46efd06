"""Step Functions: start the provisioning workflow, settle task tokens."""

from __future__ import annotations

import msgspec
from botocore.exceptions import ClientError

from orchestrator.adapters.aws import client
from orchestrator.models.workflow import WorkflowState


def start(state_machine_arn: str, name: str, state: WorkflowState) -> str:
    response = client("stepfunctions").start_execution(
        stateMachineArn=state_machine_arn, name=name, input=msgspec.json.encode(state).decode()
    )
    return response["executionArn"]


def fail_task(token: str, error: str, cause: str) -> bool:
    """SendTaskFailure; False when the token was already settled (the task reported before it stopped)."""
    try:
        client("stepfunctions").send_task_failure(taskToken=token, error=error, cause=cause[:32768])
    except ClientError as error_:
        if error_.response["Error"]["Code"] in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
            return False
        raise
    return True


def status(execution_arn: str) -> str:
    """RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, or MISSING: no such execution (it never started)."""
    try:
        return str(client("stepfunctions").describe_execution(executionArn=execution_arn)["status"])
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return "MISSING"
        raise


def stop(execution_arn: str, cause: str) -> None:
    """Abort the execution; one that already ended is left as it is."""
    try:
        client("stepfunctions").stop_execution(executionArn=execution_arn, cause=cause[:32768])
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionDoesNotExist":
            raise
