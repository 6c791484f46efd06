"""python -m neuronbench run --model M --backend auto --duration S --json"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.models.benchmark import BenchmarkResult

TOKEN_ENV = "NEURONLAB_TASK_TOKEN"  # noqa: S105 (a variable name) - set by the RunBenchmark step; never passed on the command line
HEARTBEAT_SECONDS = 60


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neuronbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="benchmark one model and report the result")
    run.add_argument("--model", default="random:bert-base",
                     help="Hugging Face name or local path, random:bert-base|random:bert-tiny (offline), or noop")
    run.add_argument("--backend", default="auto", choices=["auto", "neuron", "cuda", "cpu"])
    run.add_argument("--duration", type=float, default=10.0, help="seconds of timed inference (after warm-up)")
    run.add_argument("--min-samples", type=int, default=20)
    run.add_argument("--warmup", type=int, default=8)
    run.add_argument("--batch-size", type=int, default=1)
    run.add_argument("--sequence-length", type=int, default=128)
    run.add_argument("--threads", type=int, default=1)
    run.add_argument("--tolerance", type=float, default=0.05, help="max |logit diff| against the CPU reference")
    run.add_argument("--instance-type", default=os.environ.get("NEURONLAB_INSTANCE_TYPE", "local"))
    run.add_argument("--environment", default=None)
    run.add_argument("--image-digest", default=None)
    run.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "neuronbench",
                     help="compiled Neuron artifacts (on EFS /home, so a restart does not recompile)")
    run.add_argument("--json", action="store_true", help="print the result as one JSON line")
    run.add_argument("--output", type=Path, help="also write the result JSON to this file")
    return parser


def _progress(message: str) -> None:
    print(f"[neuronbench] {message}", file=sys.stderr, flush=True)


def _versions(backend: str) -> dict[str, str]:
    import torch

    versions = {"python": platform.python_version(), "torch": torch.__version__}
    try:
        import transformers

        versions["transformers"] = transformers.__version__
    except ImportError:
        pass
    if backend == "neuron":
        import torch_neuronx  # type: ignore[import-not-found]

        versions["torch_neuronx"] = getattr(torch_neuronx, "__version__", "unknown")
    if backend == "cuda":
        versions["cuda"] = str(torch.version.cuda)
        versions["device"] = torch.cuda.get_device_name(0)
    return versions


def benchmark(args: argparse.Namespace, heartbeat: Any = None) -> BenchmarkResult:
    import torch

    from neuronbench import backends, models, runner

    started = datetime.now(UTC)
    backend = backends.choose(args.backend)
    if backend == "cpu":
        torch.set_num_threads(backends.cpu_threads(1, args.threads))
    _progress(f"loading {args.model} (batch {args.batch_size}, sequence {args.sequence_length}) for {backend}")
    loaded = models.load(args.model, args.batch_size, args.sequence_length)
    run, synchronize = backends.prepare(backend, loaded, args.cache_dir)
    check = runner.logits_check(loaded.module, run, loaded.examples, args.tolerance)
    _progress(f"correctness: max |diff| {check['max_abs_diff']:.3g}, classes agree: {check['classes_agree']}")
    _progress(f"timing for {args.duration:g} s (at least {args.min_samples} samples, {args.warmup} warm-up)")
    measured = runner.measure(run, loaded.examples[0], duration_s=args.duration, min_samples=args.min_samples,
                              warmup=args.warmup, threads=args.threads, synchronize=synchronize,
                              heartbeat=heartbeat)
    finished = datetime.now(UTC)
    result = BenchmarkResult(
        run_id=uuid.uuid4().hex[:12], model=args.model, backend=backend, instance_type=args.instance_type,
        batch_size=args.batch_size, sequence_length=args.sequence_length, models=1, threads=args.threads,
        warmup=measured.warmup, duration_s=measured.wall_ns / 1e9, inferences=measured.samples * args.batch_size,
        throughput=measured.throughput(args.batch_size), latency_ms=measured.percentiles_ms(),
        correctness=check, versions=_versions(backend), image_digest=args.image_digest,
        environment=args.environment, started_at=started, finished_at=finished,
    )
    _progress(f"{result.inferences} inferences, {result.throughput:.1f}/s, p50 {result.latency_ms.p50:.2f} ms, "
              f"p99 {result.latency_ms.p99:.2f} ms")
    return result


class _Reporter:
    """Reports to Step Functions when the workflow started this task with a token."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self._last_beat = time.monotonic()
        self._lock = threading.Lock()
        if token:
            import boto3

            self._sfn = boto3.client("stepfunctions")

    def heartbeat(self) -> None:
        if self.token and time.monotonic() - self._last_beat > HEARTBEAT_SECONDS:
            with self._lock:
                self._sfn.send_task_heartbeat(taskToken=self.token)
                self._last_beat = time.monotonic()

    def success(self, result: BenchmarkResult) -> None:
        if self.token:
            self._sfn.send_task_success(taskToken=self.token, output=result.model_dump_json())

    def failure(self, error: BaseException) -> None:
        if self.token:
            self._sfn.send_task_failure(taskToken=self.token, error="BenchmarkFailed",
                                        cause=f"{type(error).__name__}: {error}"[:32000])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    reporter = _Reporter(os.environ.get(TOKEN_ENV))
    try:
        result = benchmark(args, heartbeat=reporter.heartbeat)
    except Exception as error:
        _progress(f"failed: {type(error).__name__}: {error}")
        reporter.failure(error)
        return 1
    text = result.model_dump_json()
    if args.output:
        args.output.write_text(text)
    print(text if args.json else json.dumps(json.loads(text), indent=2), flush=True)
    reporter.success(result)
    if result.correctness and not result.correctness.passed:
        return 2
    return 0
