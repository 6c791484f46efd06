"""`python -m neuronlab_activity`: every REPORT_SECONDS, Jupyter's signals -> environments table (activityReport).

Environment: JUPYTER_URL, JUPYTER_TOKEN (from Secrets Manager via the task definition),
NEURONLAB_ENVIRONMENT, ENVIRONMENTS_TABLE, REPORT_SECONDS (default 60).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

import boto3
from botocore.exceptions import ClientError

from orchestrator.adapters import jupyter


def report(table: Any, environment: str, url: str, token: str, now: datetime) -> dict[str, Any]:
    """One observation, written only while the environment is READY (a stop is never undone by a late write)."""
    signals = jupyter.signals(url, token)
    body = json.loads(json.dumps({**asdict(signals), "reportedAt": now.isoformat()}, default=str))
    try:
        table.update_item(
            Key={"name": environment}, UpdateExpression="SET activityReport = :report",
            ConditionExpression="#state = :ready", ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":report": body, ":ready": "READY"})
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    return body


def main() -> int:
    env = os.environ
    table = boto3.resource("dynamodb").Table(env["ENVIRONMENTS_TABLE"])
    interval = float(env.get("REPORT_SECONDS", "60"))
    while True:
        try:
            now = datetime.now(timezone.utc)
            report(table, env["NEURONLAB_ENVIRONMENT"], env["JUPYTER_URL"], env["JUPYTER_TOKEN"], now)
        except Exception as error:  # keep reporting; the sweep treats a stale report as unreachable
            print(f"[activity] report failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        time.sleep(interval)
