"""`neuronlab demo`: the main job on LocalCloud, end to end."""

from __future__ import annotations

import os
import time
from typing import Any

from neuronlab_core import jupyter
from rich.console import Console

from localcloud import images
from neuronlab import local
from neuronlab.client import ApiError, resolve
from neuronlab.workflow import state_transitions, wait_for_execution

DEMO = "demo"


def run_demo(benchmark_model: str, benchmark_seconds: int, console: Console, quiet: bool) -> dict[str, Any]:
    with console.status("starting LocalCloud"):
        state, _ = local.up()
    target = resolve(use_local=True)
    image = images.put_image(target.boto3_client("ecr"))
    begin = time.monotonic()
    try:
        record = target.request("POST", "/environments", body={
            "name": DEMO, "image": image, "benchmarkModel": benchmark_model, "benchmarkSeconds": benchmark_seconds})
    except ApiError as error:
        if error.status != 409:
            raise
        console.print("environment demo exists already: showing it (neuronlab local down to start afresh)")
        record = target.request("GET", f"/environments/{DEMO}")
    execution = wait_for_execution(target, record["executionArn"], quiet=quiet)
    seconds = (execution.get("stopDate") and (execution["stopDate"] - execution["startDate"]).total_seconds()) \
        or time.monotonic() - begin
    record = target.request("GET", f"/environments/{DEMO}")
    benchmarks = target.request("GET", "/benchmarks", params={"environment": DEMO, "limit": "1"})["benchmarks"]
    api_status = 0
    if record.get("url") and record.get("tokenSecretArn"):
        secrets = target.boto3_client("secretsmanager")
        token = secrets.get_secret_value(SecretId=record["tokenSecretArn"])["SecretString"]
        os.environ["NEURONLAB_NOTEBOOK_CA_FILE"] = state["caFile"]  # LocalCloud's edge: a self-signed certificate
        api_status = jupyter.api_status(record["url"], token, timeout=10)[0]
    return {
        "execution": {"status": execution["status"], "arn": execution["executionArn"],
                      "stateTransitions": state_transitions(target, execution["executionArn"]), "seconds": seconds},
        "environment": {"name": DEMO, "status": record["state"], "url": record.get("url"),
                        "failureReason": record.get("failureReason")},
        "benchmark": benchmarks[0] if benchmarks else None,
        "notebook": {"apiStatusCode": api_status},
        "awsEndpoint": state["awsEndpoint"],
    }
