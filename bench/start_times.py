"""`make bench`: time to notebook on LocalCloud, cold start vs warm start, by workflow phase.

For each of three environments: a cold start (stack created), a stop, then a warm start (stack updated,
group and service scaled up). Phases come from the execution history: image check, stack (DeployStacks
until the stack settled), notebook (until Jupyter answered with the token). Written to
bench-results/start_times.json. LocalCloud's stacks and "instances" are emulated: these numbers are the
orchestration's own overhead on this machine, not AWS provisioning times (docs/start-times.md).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from results import write

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "local"), str(ROOT / "functions"), str(ROOT)]

from localcloud.cloud import REGION, LocalCloud  # noqa: E402
from neuronlab import signing  # noqa: E402

RUNS = 3
PHASES = {"image": ("CheckImage", "DeployStacks"), "stack": ("DeployStacks", "WaitForNotebook"),
          "notebook": ("WaitForNotebook", "MarkReady")}


def _wait(arn: str, deadline_s: float = 180) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        execution = sfn.describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            return execution
        time.sleep(0.1)
    raise TimeoutError(arn)


def _phases(arn: str) -> dict[str, float]:
    events = boto3.client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered: dict[str, float] = {}
    for event in events:
        name = (event.get("stateEnteredEventDetails") or {}).get("name")
        if name and name not in entered:
            entered[name] = event["timestamp"].timestamp()
    phases = {phase: round(entered[b] - entered[a], 2) for phase, (a, b) in PHASES.items()}
    phases["total"] = round(entered["MarkReady"] - entered["CheckImage"], 2)
    return phases


def main() -> None:
    cloud = LocalCloud(Path(tempfile.mkdtemp(prefix="neuronlab-start-times-"))).start()
    runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    try:
        for i in range(RUNS):
            name = f"timing{i}"
            http = signing.session(cloud.person("you"), REGION)  # the API checks SigV4, as API Gateway does
            cold = http.post(f"{cloud.api.url}/environments", json={"name": name, "benchmark": False}, timeout=30)
            execution = _wait(cold.json()["executionArn"])
            assert execution["status"] == "SUCCEEDED", execution
            runs["cold"].append(_phases(execution["executionArn"]))
            http.post(f"{cloud.api.url}/environments/{name}/stop", timeout=60).raise_for_status()
            warm = http.post(f"{cloud.api.url}/environments/{name}/start", json={"benchmark": False}, timeout=30)
            execution = _wait(warm.json()["executionArn"])
            assert execution["status"] == "SUCCEEDED", execution
            runs["warm"].append(_phases(execution["executionArn"]))
    finally:
        cloud.stop()
    results = {
        "command": "python bench/start_times.py (LocalCloud in-process, poll every 1 s)",
        "runs": RUNS,
        "median_s": {kind: {phase: statistics.median(r[phase] for r in rs) for phase in rs[0]}
                     for kind, rs in runs.items()},
        "each_s": runs,
    }
    write("start_times", results)
    print(json.dumps(results["median_s"], indent=2))


if __name__ == "__main__":
    main()
