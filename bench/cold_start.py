"""Cold import of each Lambda handler against `import boto3`, measured in the same run (issue 12's target:
every handler at most 1.6x). Each sample is a fresh interpreter; handler and boto3 samples alternate, and
the median of several is kept, so the ratio survives a busy machine better than either time alone.

Measured twice: with this checkout's interpreter on the source tree (`tracing_on`, `tracing_off`), and, where
python3.13 and SAM are here, as Lambda runs it (`lambda_python313`): the function assets `sam build` makes for
the python3.13 runtime (the analysis layer beside the API and StoreMetrics), on CPython 3.13, against a 3.13
`import boto3` (the runtime brings boto3; a venv in bench-results/ holds the same version as this checkout's).
The two disagree on this machine: on 3.11 `import orchestrator.handlers.steps` spends ~40 ms more in `re`'s
parser when the handler (not the domain) is imported first (cProfile: the same 665 calls of re._parser._parse,
46 ms against 9 ms of their own time); 3.13 shows no such effect.

Writes bench-results/cold_start.json and prints one line per handler."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from results import write
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


PY313 = Path.home() / ".pyenv" / "versions" / "3.13.0" / "bin" / "python3.13"
SAM = ROOT / ".venv-sam" / "bin" / "sam"
BUILD = ROOT / "bench-results" / ".sam-build"
VENV313 = ROOT / "bench-results" / ".py313"


def measure_lambda_runtime() -> dict[str, dict[str, float]] | None:
    """Each handler as its built asset on CPython 3.13 (tracing off, as deployed by default); None without 3.13."""
    if not (PY313.exists() and SAM.exists()):
        return None
    import boto3

    env = {**os.environ, "PATH": f"{PY313.parent}:{os.environ['PATH']}", "SAM_CLI_TELEMETRY": "0",
           "AWS_DEFAULT_REGION": "us-east-1"}
    subprocess.run([str(SAM), "build", "--build-dir", str(BUILD / "build"), "--cache-dir", str(BUILD / "cache"),
                    "--cached"], check=True, cwd=ROOT, env=env, capture_output=True)
    if not (VENV313 / "bin" / "python").exists():
        subprocess.run([str(PY313), "-m", "venv", str(VENV313)], check=True)
        subprocess.run([str(VENV313 / "bin" / "pip"), "install", "-q", f"boto3=={boto3.__version__}"], check=True)
    template = yaml_parse((ROOT / "template.yaml").read_text())
    functions = {name: r for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    # one function per handler module, one with the layer where a module has both (steps: StoreMetrics)
    chosen: dict[str, tuple[str, bool]] = {}
    for name, resource in functions.items():
        module = resource["Properties"]["Handler"].rsplit(".", 1)[0]
        layered = bool(resource["Properties"].get("Layers"))
        if module not in chosen or layered:
            chosen[module] = (name, layered)

    def seconds(statement: str, path: str) -> float:
        code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_", "PYTHON"))}
        # bytecode is written on the warm-up round and read after: the runtime's boto3 ships compiled, and so
        # would an asset built with compiled bytecode (sam build ships none: see docs/benchmarks.md)
        variables = {**clean, **LAMBDA_ENV, "PYTHONPATH": path, "POWERTOOLS_TRACE_DISABLED": "true",
                     "STATE_MACHINE_ARN": "arn", "ENVIRONMENT_STACK_ROLE_ARN": "arn"}
        variables.pop("PYTHONDONTWRITEBYTECODE")
        done = subprocess.run([str(VENV313 / "bin" / "python"), "-c", code], capture_output=True, text=True,
                              check=True, cwd=BUILD, env=variables)
        return float(done.stdout.strip().splitlines()[-1])

    samples: dict[str, list[float]] = {m: [] for m in [*chosen, "boto3"]}
    for round_ in range(ROUNDS + 1):
        for module, (function, layered) in chosen.items():
            path = str(BUILD / "build" / function) + (f":{BUILD / 'build' / 'AnalysisLayer' / 'python'}" if layered
                                                      else "")
            pair = (seconds("import boto3", path), seconds(f"import {module}", path))
            if round_:  # round 0 warms up
                samples["boto3"].append(pair[0])
                samples[module].append(pair[1])
    baseline = statistics.median(samples["boto3"])
    return {m: {"median_s": round(statistics.median(s), 4), "ratio": round(statistics.median(s) / baseline, 2)}
            for m, s in samples.items()}


def main() -> None:
    results = {"rounds": ROUNDS, "tracing_on": measure(True), "tracing_off": measure(False),
               "lambda_python313": measure_lambda_runtime()}
    out = write("cold_start", results)
    for mode in ("tracing_on", "tracing_off", "lambda_python313"):
        for module, numbers in (results[mode] or {}).items():
            print(f"{mode:16} {module:42} {numbers['median_s'] * 1000:7.1f} ms  {numbers['ratio']:.2f}x boto3")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
