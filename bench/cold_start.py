"""Cold import of each Lambda handler against `import boto3`, measured in the same run (issue 12's target:
every handler at most 1.6x). Each sample is a fresh interpreter; handler and boto3 samples alternate, and
the median of several is kept, so the ratio survives a busy machine better than either time alone.

Writes bench-results/cold_start.json and prints one line per handler."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 7
# What the function sees on Lambda (template Globals), less the AWS endpoint: imports only, no calls.
LAMBDA_ENV = {"POWERTOOLS_SERVICE_NAME": "neuronlab", "POWERTOOLS_METRICS_NAMESPACE": "NeuronLab",
              "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "ENVIRONMENTS_TABLE": "t",
              "BENCHMARKS_TABLE": "t", "PYTHONPATH": str(ROOT / "functions"), "PYTHONDONTWRITEBYTECODE": "1"}


def _seconds(statement: str, extra_env: dict[str, str]) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_"))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**env, **LAMBDA_ENV, **extra_env}, cwd=ROOT / "functions")
    return float(done.stdout.strip().splitlines()[-1])


def handlers() -> dict[str, str]:
    template = yaml_parse((ROOT / "template.yaml").read_text())
    return {name: r["Properties"]["Handler"].rsplit(".", 1)[0] for name, r in template["Resources"].items()
            if r["Type"] == "AWS::Serverless::Function"}


def measure(tracing: bool) -> dict[str, dict[str, float]]:
    extra = {} if tracing else {"POWERTOOLS_TRACE_DISABLED": "true"}
    modules = sorted(set(handlers().values()))
    samples: dict[str, list[float]] = {m: [] for m in [*modules, "boto3"]}
    for _ in range(ROUNDS):
        for module in modules:
            samples["boto3"].append(_seconds("import boto3", extra))
            samples[module].append(_seconds(f"import {module}", extra))
    baseline = statistics.median(samples["boto3"])
    return {m: {"median_s": round(statistics.median(s), 4), "ratio": round(statistics.median(s) / baseline, 2)}
            for m, s in samples.items()}


def main() -> None:
    results = {"rounds": ROUNDS, "tracing_on": measure(True), "tracing_off": measure(False)}
    out = ROOT / "bench-results" / "cold_start.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    for mode in ("tracing_on", "tracing_off"):
        for module, numbers in results[mode].items():
            print(f"{mode:12} {module:42} {numbers['median_s'] * 1000:7.1f} ms  {numbers['ratio']:.2f}x boto3")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
