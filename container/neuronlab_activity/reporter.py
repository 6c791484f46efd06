"""`python -m neuronlab_activity`: every REPORT_SECONDS, Jupyter's signals -> the activity table.

Environment: JUPYTER_URL, JUPYTER_TOKEN (from Secrets Manager via the task definition),
NEURONLAB_ENVIRONMENT, ACTIVITY_TABLE, REPORT_SECONDS (default 60). The task role may write only this
environment's item of the activity table; the orchestrator uses it for the idle decision alone.
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
from neuronlab_core import jupyter


def report(table: Any, environment: str, url: str, token: str, now: datetime) -> dict[str, Any]:
    """One observation, replacing the last one."""
    signals = jupyter.signals(url, token)
    body = json.loads(json.dumps({**asdict(signals), "reportedAt": now.isoformat()}, default=str))
    table.put_item(Item={"name": environment, "report": body})
    return body


def main() -> int:
    env = os.environ
    table = boto3.resource("dynamodb").Table(env["ACTIVITY_TABLE"])
    interval = float(env.get("REPORT_SECONDS", "60"))
    while True:
        try:
            now = datetime.now(timezone.utc)
            report(table, env["NEURONLAB_ENVIRONMENT"], env["JUPYTER_URL"], env["JUPYTER_TOKEN"], now)
        except Exception as error:  # keep reporting; the sweep treats a stale report as unreachable
            print(f"[activity] report failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        time.sleep(interval)
