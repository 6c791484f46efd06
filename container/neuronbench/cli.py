"""python -m neuronbench run --model M --backend auto --scenario latency|throughput|all --duration S --json"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

from neuronlab_core import instance_types, latency
from neuronlab_core.benchmark import BenchmarkResult, SweepPoint
from neuronlab_core.instance_types import cost_per_million

from neuronbench.models import DEFAULT_MODEL

TOKEN_ENV = "NEURONLAB_TASK_TOKEN"  # noqa: S105 (a variable name) - set by the RunBenchmark step, never on the command line
HEARTBEAT_SECONDS = 60  # the step's HeartbeatSeconds is 600
# The result travels in SendTaskSuccess (at most 262144 bytes; the Step Functions API reference) and then in the
# workflow's state beside the rest of it: histograms are dropped, slowest configurations first, to stay under this
RESULT_BUDGET = 200 * 1024


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neuronbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="benchmark one model and report the result")
    run.add_argument("--model", default=DEFAULT_MODEL,
                     help="Hugging Face sequence-classification name or local path (default: the original "
                          "pattern's model), random:bert-base|random:bert-tiny (random weights, offline), "
                          "or noop (the harness's own overhead)")
    run.add_argument("--backend", default="auto", choices=["auto", "neuron", "cuda", "cpu"])
    run.add_argument("--scenario", default="latency", choices=["latency", "throughput", "all"])
    run.add_argument("--duration", type=float, default=10.0,
                     help="timed seconds per configuration (warm-up excluded)")
    run.add_argument("--min-samples", type=int, default=20, help="per configuration, even past --duration")
    run.add_argument("--warmup", type=int, default=8, help="untimed inferences per model copy")
    run.add_argument("--batch-size", type=int, default=1)
    run.add_argument("--sequence-length", type=int, default=128)
    run.add_argument("--max-models", type=int, help="cap the throughput sweep's model copies")
    run.add_argument("--max-threads", type=int, help="cap the throughput sweep's threads")
    run.add_argument("--tolerance", type=float, default=0.05, help="max |logit diff| against the CPU reference")
    run.add_argument("--compiler-args", default="",
                     help="arguments for the Neuron compiler, e.g. '--auto-cast none' (default: its defaults)")
    run.add_argument("--instance-type", default=os.environ.get("NEURONLAB_INSTANCE_TYPE", "local"))
    run.add_argument("--hourly-price", type=float,
                     help="USD per hour, for instance types outside NeuronLab's table")
    run.add_argument("--environment", default=None)
    run.add_argument("--image-digest", default=None)
    run.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "neuronbench",
                     help="compiled Neuron artifacts (on EFS /home, so a restart does not recompile)")
    run.add_argument("--json", action="store_true", help="print the result as one JSON line")
    run.add_argument("--output", type=Path, help="also write the result JSON to this file")
    return parser


def _progress(message: str) -> None:
    print(f"[neuronbench] {message}", file=sys.stderr, flush=True)


# Python distributions of the Neuron SDK whose version is part of a run's fingerprint (when installed)
NEURON_PACKAGES = ("torch-neuronx", "neuronx-cc", "libneuronxla", "neuronx-distributed")
# The runtime is a system package in the Neuron DLCs (Ubuntu): dpkg knows its version
RUNTIME_PACKAGE = "aws-neuronx-runtime-lib"
# A loaded kernel module's version (Linux sysfs ABI, Documentation/ABI/stable/sysfs-module): the host's
# Neuron driver, which the container does not install but runs against
DRIVER_VERSION = Path("/sys/module/neuron/version")


def _neuron_versions() -> dict[str, str]:
    """The Neuron compiler, framework, runtime and driver versions this run used; what cannot be read is left
    out rather than guessed."""
    found = {}
    for package in NEURON_PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[package] = importlib.metadata.version(package)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        runtime = subprocess.run(["dpkg-query", "-W", "-f=${Version}", RUNTIME_PACKAGE],  # noqa: S607
                                 capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        if runtime:
            found["neuron-runtime"] = runtime
    with contextlib.suppress(OSError):
        found["neuron-driver"] = DRIVER_VERSION.read_text().strip()
    return found


def _versions(backend: str) -> dict[str, str]:
    import torch

    versions = {"python": platform.python_version(), "torch": torch.__version__}
    try:
        import transformers

        versions["transformers"] = transformers.__version__
    except ImportError:
        pass
    if backend == "neuron":
        versions.update(_neuron_versions())
    if backend == "cuda":
        versions["cuda"] = str(torch.version.cuda)
        versions["device"] = torch.cuda.get_device_name(0)
    return versions


def _hourly_price(args: argparse.Namespace, backend: str) -> float | None:
    """The instance's price, for a run on its accelerator only: a CPU run (LocalCloud's, or --backend cpu on
    inf2) did not measure what the accelerator costs per inference. --hourly-price prices any run."""
    if args.hourly_price is not None:
        return args.hourly_price
    return instance_types.accelerator_hourly_usd(args.instance_type, backend)


def within_budget(result: BenchmarkResult, budget: int = RESULT_BUDGET) -> BenchmarkResult:
    """`result` with the histograms of its slowest sweep configurations dropped until its JSON fits `budget`
    (a 48-configuration sweep on inf2.48xlarge can exceed it); the headline's is kept."""
    dropped = 0
    for point in sorted(result.sweep, key=lambda p: p.throughput):
        if len(result.model_dump_json().encode()) <= budget:
            break
        if point.histogram:
            point.histogram = None
            dropped += 1
    if dropped:
        _progress(f"dropped the latency histograms of the {dropped} slowest configuration(s) to keep the result "
                  f"under {budget // 1024} KiB")
    return result


def benchmark(args: argparse.Namespace) -> BenchmarkResult:
    import torch

    from neuronbench import backends, models, runner, scenarios

    started = datetime.now(timezone.utc)
    backend = backends.choose(args.backend)
    compiler_args = shlex.split(args.compiler_args) if backend == "neuron" else []
    _progress(f"loading {args.model} (batch {args.batch_size}, sequence {args.sequence_length}) for {backend}")
    loaded = models.load(args.model, args.batch_size, args.sequence_length)
    configs = ([scenarios.LATENCY] if args.scenario in ("latency", "all") else []) + (
        scenarios.throughput_sweep(backend, backends.neuron_cores(), args.max_models, args.max_threads)
        if args.scenario in ("throughput", "all") else [])
    copies, synchronize = backends.prepare(backend, loaded, max(c.models for c in configs), args.cache_dir,
                                           compiler_args)

    check = runner.logits_check(loaded.module, copies[0], loaded.examples, args.tolerance)
    _progress(f"correctness: max |diff| {check['max_abs_diff']:.3g}, classes agree: {check['classes_agree']}")
    if check["max_abs_diff"] > args.tolerance or not check["classes_agree"]:
        # still measured and reported: a wrong result is a regression the history records (never a baseline)
        _progress(f"INCORRECT: outputs differ from the CPU reference beyond the tolerance {args.tolerance:g}")

    points: list[tuple[scenarios.Config, runner.Measurement, int | None]] = []
    for config in configs:
        intra = None
        if backend == "cpu":
            intra = backends.intra_op_threads(config.threads)
            torch.set_num_threads(intra)
        _progress(f"{config.models} model(s) x {config.threads} thread(s): {args.duration:g} s, "
                  f">= {args.min_samples} samples, {args.warmup} warm-up each")
        measured = runner.measure(copies[: config.models], loaded.examples[0], duration_s=args.duration,
                                  min_samples=args.min_samples, warmup=args.warmup, threads=config.threads,
                                  synchronize=synchronize)
        percentiles = measured.percentiles_ms()
        _progress(f"  {measured.samples} samples, {measured.throughput(args.batch_size):.1f}/s, "
                  f"p50 {percentiles['p50']:.3f} ms, p99 {percentiles['p99']:.3f} ms")
        points.append((config, measured, intra))

    sweep = [SweepPoint(models=c.models, threads=c.threads, intra_op_threads=intra, warmup=m.warmup,
                        inferences=m.samples * args.batch_size, duration_s=m.wall_ns / 1e9,
                        throughput=m.throughput(args.batch_size), latency_ms=m.percentiles_ms(),
                        histogram=latency.encode(m.latencies_ns),
                        throughput_windows=m.throughput_windows(args.batch_size))
             for c, m, intra in points if args.scenario != "latency" and c is not scenarios.LATENCY]
    headline_config, headline, _ = (points[0] if args.scenario in ("latency", "all")
                                    else max(points, key=lambda p: p[1].throughput(args.batch_size)))
    throughput = headline.throughput(args.batch_size)
    hourly = _hourly_price(args, backend)
    result = BenchmarkResult(
        run_id=uuid.uuid4().hex[:12], model=args.model, backend=backend, scenario=args.scenario,
        instance_type=args.instance_type, batch_size=args.batch_size, sequence_length=args.sequence_length,
        dtype=loaded.dtype, compiler_args=compiler_args, models=headline_config.models, threads=headline_config.threads,
        warmup=sum(m.warmup for _, m, _ in points), duration_s=headline.wall_ns / 1e9,
        inferences=headline.samples * args.batch_size, throughput=throughput,
        latency_ms=headline.percentiles_ms(), histogram=latency.encode(headline.latencies_ns),
        throughput_windows=headline.throughput_windows(args.batch_size), sweep=sweep, correctness=check,
        cost_per_million_usd=cost_per_million(hourly, throughput) if hourly else None,
        versions=_versions(backend), image_digest=args.image_digest, environment=args.environment,
        started_at=started, finished_at=datetime.now(timezone.utc),
    )
    within_budget(result)
    best = result.best
    _progress(f"result: {result.throughput:.1f}/s, p50 {result.latency_ms.p50:.3f} ms, "
              f"p99 {result.latency_ms.p99:.3f} ms"
              + (f"; best sweep {best.models}x{best.threads}: {best.throughput:.1f}/s" if best else ""))
    return result


class Reporter:
    """Reports to Step Functions when the workflow started this task with a token.

    Heartbeats come from a thread of their own for the whole run, so a model download or a Neuron
    compile longer than the step's HeartbeatSeconds does not time the step out while the task still works.
    """

    def __init__(self, token: str | None) -> None:
        self.token = token
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if token:
            import boto3

            self._sfn = boto3.client("stepfunctions")

    def __enter__(self) -> Reporter:
        if self.token:
            self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self._sfn.send_task_heartbeat(taskToken=self.token)
            except Exception as error:  # the step may have ended; the result report says the last word
                _progress(f"heartbeat failed: {type(error).__name__}: {error}")

    def success(self, result: BenchmarkResult) -> None:
        if self.token:
            self._sfn.send_task_success(taskToken=self.token, output=result.model_dump_json())

    def failure(self, error: BaseException) -> None:
        if self.token:
            self._sfn.send_task_failure(taskToken=self.token, error="BenchmarkFailed",
                                        cause=f"{type(error).__name__}: {error}"[:32000])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with Reporter(os.environ.get(TOKEN_ENV)) as reporter:
        try:
            result = benchmark(args)
        except Exception as error:
            _progress(f"failed: {type(error).__name__}: {error}")
            reporter.failure(error)
            return 1
        text = result.model_dump_json()
        if args.output:
            args.output.write_text(text)
        print(text if args.json else json.dumps(json.loads(text), indent=2), flush=True)
        reporter.success(result)  # an incorrect run too: StoreMetrics records it, then fails the step
    return 0 if result.correctness is None or result.correctness.passed else 2
