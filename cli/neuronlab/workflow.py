"""Following a provisioning workflow from the client side: its current step, its end, its size."""

from __future__ import annotations

import time

from rich.console import Console

from neuronlab.client import Target

WAIT_TIMEOUT_S = 3600
progress = Console(stderr=True, emoji=False)


def _current_step(target: Target, execution_arn: str) -> str:
    history = target.boto3_client("stepfunctions").get_execution_history(
        executionArn=execution_arn, reverseOrder=True, maxResults=25)["events"]
    for event in history:
        if "stateEnteredEventDetails" in event:
            return event["stateEnteredEventDetails"]["name"]
    return "starting"


def wait_for_execution(target: Target, execution_arn: str, quiet: bool, timeout_s: float = WAIT_TIMEOUT_S) -> dict:
    """Poll the workflow until it ends, showing its current step."""
    sfn = target.boto3_client("stepfunctions")
    deadline = time.monotonic() + timeout_s
    with progress.status("starting", spinner="dots") as status:
        while True:
            execution = sfn.describe_execution(executionArn=execution_arn)
            if execution["status"] != "RUNNING":
                return execution
            if time.monotonic() > deadline:
                raise TimeoutError(f"still running after {timeout_s:.0f} s: {execution_arn}")
            if not quiet:
                status.update(f"workflow step: [bold]{_current_step(target, execution_arn)}[/bold]")
            time.sleep(1)


def state_transitions(target: Target, execution_arn: str) -> int:
    sfn = target.boto3_client("stepfunctions")
    events, token = [], None
    while True:
        page = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000,
                                         **({"nextToken": token} if token else {}))
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return sum(1 for e in events if e["type"].endswith("StateEntered"))
