"""The benchmark harness on CPU: timing, bounds, threads, correctness, and its result in the store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from neuronlab_core.benchmark import BenchmarkResult

from neuronbench import backends, cli, runner, scenarios

INPUTS = (torch.zeros(1, 4, dtype=torch.long),)


class FakeClock:
    """perf_counter_ns stand-in that a fake model advances by exactly its latency."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


class SteppingModel:
    """Takes latencies_ns[i % len] per call on the fake clock; counts calls."""

    def __init__(self, clock: FakeClock, latencies_ns: list[int]) -> None:
        self.clock, self.latencies, self.calls = clock, latencies_ns, 0

    def __call__(self, *_: torch.Tensor) -> tuple[torch.Tensor]:
        self.clock.now += self.latencies[self.calls % len(self.latencies)]
        self.calls += 1
        return (torch.zeros(1, 2),)


def test_percentiles_of_a_known_latency_distribution() -> None:
    # Given a model that takes 1 ms in 90 calls out of 100 and 10 ms in the other 10
    clock = FakeClock()
    model = SteppingModel(clock, [1_000_000] * 90 + [10_000_000] * 10)
    measured = runner.measure([model], INPUTS, duration_s=1.9, min_samples=1, warmup=0, clock=clock)
    percentiles = measured.percentiles_ms()
    # Then the percentiles are those of the distribution (numpy's linear interpolation)
    expected = np.percentile(np.array(([1.0] * 90 + [10.0] * 10) * (measured.samples // 100)),
                             [50, 90, 95, 99, 99.9])
    assert measured.samples == 1000  # 190 ms per 100 calls: the 1000th call ends exactly at 1.9 s
    assert [percentiles[k] for k in ("p50", "p90", "p95", "p99", "p999")] == pytest.approx(expected.tolist())
    assert percentiles["p50"] == 1.0 and percentiles["p99"] == 10.0


def test_duration_bounds_the_run_and_min_samples_extend_it() -> None:
    clock = FakeClock()
    model = SteppingModel(clock, [10_000_000])  # 10 ms
    by_duration = runner.measure([model], INPUTS, duration_s=1.0, min_samples=5, warmup=3, clock=clock)
    assert by_duration.samples == 100 and by_duration.wall_ns == 1_000_000_000
    by_samples = runner.measure([model], INPUTS, duration_s=1.0, min_samples=250, warmup=3, clock=clock)
    assert by_samples.samples == 250


def test_warm_up_is_excluded_and_counted() -> None:
    clock = FakeClock()
    model = SteppingModel(clock, [10_000_000])
    measured = runner.measure([model, model], INPUTS, duration_s=0.5, min_samples=1, warmup=8, clock=clock)
    assert measured.warmup == 16  # 8 per model copy
    assert model.calls == measured.samples + 16


def test_threads_keep_their_own_buffers_and_all_samples_are_kept() -> None:
    calls: list[int] = []

    def model(*_: torch.Tensor) -> tuple[torch.Tensor]:
        calls.append(1)
        return (torch.zeros(1, 2),)

    measured = runner.measure([model, model], INPUTS, duration_s=0.2, min_samples=40, warmup=0, threads=4)
    assert measured.threads == 4 and measured.models == 2
    assert measured.samples == len(calls) >= 40
    assert measured.throughput(batch_size=2) == pytest.approx(2 * measured.samples / (measured.wall_ns / 1e9))


@pytest.mark.parametrize("backend", ["cpu", "cuda"])
def test_sweep_uses_every_copy_and_at_most_two_elsewhere_than_neuron(backend: str) -> None:
    configs = scenarios.throughput_sweep(backend, neuron_cores=0)
    assert {(c.models, c.threads) for c in configs} == {(1, 1), (1, 2), (2, 2), (2, 4)}
    assert all(c.threads >= c.models for c in configs)


def test_neuron_sweep_goes_up_to_one_copy_per_core() -> None:
    configs = scenarios.throughput_sweep("neuron", neuron_cores=4, max_threads=4)
    assert max(c.models for c in configs) == 4 and max(c.threads for c in configs) == 4


@pytest.mark.parametrize("threads", [1, 2, 3, 4, 8, 64])
def test_cpu_threads_never_oversubscribe_the_cores(threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "cores", lambda: 8)
    intra = backends.intra_op_threads(threads)
    assert intra >= 1
    assert intra * threads <= max(8, threads)


def test_logits_check_detects_a_wrong_model() -> None:
    reference = torch.nn.Linear(4, 2).eval()

    def shifted(x: torch.Tensor) -> tuple[torch.Tensor]:
        return (reference(x) + 1.0,)

    def flipped(x: torch.Tensor) -> tuple[torch.Tensor]:
        return (-reference(x),)

    def same(x: torch.Tensor) -> tuple[torch.Tensor]:
        return (reference(x),)

    def ref(x: torch.Tensor) -> tuple[torch.Tensor]:
        return (reference(x),)

    examples = [(torch.randn(3, 4),), (torch.randn(3, 4),)]
    assert runner.logits_check(ref, same, examples, 0.05) == {"max_abs_diff": 0.0, "classes_agree": True,
                                                              "tolerance": 0.05}
    assert runner.logits_check(ref, shifted, examples, 0.05)["max_abs_diff"] == pytest.approx(1.0)
    assert runner.logits_check(ref, flipped, examples, 0.05)["classes_agree"] is False


def test_a_run_whose_outputs_are_wrong_is_measured_reported_and_exits_2(monkeypatch: pytest.MonkeyPatch,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    real_prepare = backends.prepare

    def broken(*args: object, **kwargs: object) -> tuple[list, object]:
        copies, sync = real_prepare(*args, **kwargs)  # type: ignore[arg-type]
        return [lambda *x: (copies[0](*x)[0] + 5.0,) for _ in copies], sync

    monkeypatch.setattr(backends, "prepare", broken)
    reported: list[BenchmarkResult] = []
    monkeypatch.setattr(cli.Reporter, "success", lambda self, result: reported.append(result))
    code = cli.main(["run", "--model", "noop", "--duration", "0.05", "--json"])
    # a wrong result is still a run: the history records it as a regression (StoreMetrics then fails the step)
    assert code == 2
    assert reported[0].correctness is not None and not reported[0].correctness.passed
    assert reported[0].correctness.max_abs_diff == pytest.approx(5.0)
    assert BenchmarkResult.model_validate_json(capsys.readouterr().out) == reported[0]


def test_each_configuration_keeps_every_latency_and_its_throughput_over_time() -> None:
    from neuronlab_core import latency

    # Given a model that takes 1 ms for the first half second and 4 ms after (it slowed down)
    clock = FakeClock()
    model = SteppingModel(clock, [1_000_000] * 500 + [4_000_000] * 125)
    measured = runner.measure([model], INPUTS, duration_s=1.0, min_samples=1, warmup=0, clock=clock)
    windows = measured.throughput_windows(batch_size=2)
    # Then 20 windows of 50 ms: 50 inferences (x2 per batch) each in the first half, 12.5 in the second
    assert len(windows) == runner.WINDOWS
    assert windows[:9] == [pytest.approx(2000.0, rel=0.05)] * 9
    assert windows[-9:] == [pytest.approx(500.0, rel=0.1)] * 9
    assert sum(windows) / len(windows) == pytest.approx(measured.throughput(2), rel=0.02)
    # And the histogram holds every latency, exact to 3 significant digits
    (fast, fast_count), (slow, slow_count) = latency.recorded(latency.encode(measured.latencies_ns))
    assert (fast, fast_count, slow_count) == (1000, 500, 125) and slow == pytest.approx(4000, rel=1e-3)
    # A short run has fewer windows, each with at least 5 inferences
    short = runner.measure([model], INPUTS, duration_s=0.0, min_samples=12, warmup=0, clock=clock)
    assert len(short.throughput_windows(1)) == 2


def test_noop_run_all_scenarios_produces_the_shared_schema(tmp_path: Path) -> None:
    output = tmp_path / "result.json"
    code = cli.main(["run", "--model", "noop", "--scenario", "all", "--duration", "0.05", "--min-samples", "10",
                     "--instance-type", "inf2.xlarge", "--output", str(output), "--json"])
    assert code == 0
    result = BenchmarkResult.model_validate_json(output.read_text())
    assert result.scenario == "all" and (result.models, result.threads) == (1, 1)
    assert {(p.models, p.threads) for p in result.sweep} == {(1, 1), (1, 2), (2, 2), (2, 4)}
    assert all(p.intra_op_threads and p.intra_op_threads * p.threads <= max(backends.cores(), p.threads)
               for p in result.sweep)
    assert result.best is not None and result.best.throughput == max(p.throughput for p in result.sweep)
    assert result.warmup == 8 * (1 + 1 + 1 + 2 + 2)  # 8 per copy per configuration
    assert [p.warmup for p in result.sweep] == [8, 8, 16, 16]
    # every configuration keeps its latencies and its throughput over time; the run its fingerprint
    assert result.histogram and all(p.histogram and p.throughput_windows for p in result.sweep)
    assert (result.dtype, result.parallelism, result.compiler_args) == ("float32", 1, [])
    # measured on this machine's CPU: not priced as the inf2.xlarge's NeuronCores
    assert result.backend == "cpu" and result.cost_per_million_usd is None


def test_throughput_scenario_headline_is_the_best_configuration(tmp_path: Path) -> None:
    output = tmp_path / "result.json"
    assert cli.main(["run", "--model", "noop", "--scenario", "throughput", "--duration", "0.05",
                     "--hourly-price", "2.0", "--output", str(output)]) == 0
    result = BenchmarkResult.model_validate_json(output.read_text())
    assert result.best is not None
    assert (result.models, result.threads, result.throughput) == (result.best.models, result.best.threads,
                                                                  result.best.throughput)
    assert result.cost_per_million_usd == pytest.approx(2.0 / (result.throughput * 3600) * 1e6)


def test_harness_result_round_trips_through_the_store_step_and_the_api(tables: dict[str, str], tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from orchestrator.adapters.dynamodb import EnvironmentStore
    from orchestrator.domain import provisioning
    from orchestrator.handlers import api
    from orchestrator.settings import settings
    from tests.helpers import FakeContext, proxy_event

    now = datetime.now(UTC).isoformat()
    EnvironmentStore(settings().environments_table).create(
        {"name": "demo", "state": "READY", "instanceType": "inf2.xlarge", "image": "x", "createdAt": now,
         "updatedAt": now})
    output = tmp_path / "result.json"
    assert cli.main(["run", "--model", "noop", "--scenario", "all", "--duration", "0.05", "--environment", "demo",
                     "--instance-type", "inf2.xlarge", "--output", str(output)]) == 0
    harness = json.loads(output.read_text())

    provisioning.store_metrics(harness)
    response = api.handler(proxy_event("GET", "/benchmarks", query={"environment": "demo"}), FakeContext())
    served = json.loads(response["body"])["benchmarks"][0]

    assert BenchmarkResult.model_validate({k: v for k, v in served.items() if k in BenchmarkResult.model_fields}) \
        == BenchmarkResult.model_validate(harness)


def test_a_local_model_directory_loads_with_its_tokenizer_and_runs(tmp_path: Path) -> None:
    # a tiny sequence classifier and WordPiece vocabulary, saved the way Hugging Face saves models
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    from neuronbench.models import SEQUENCE_0, SEQUENCE_1, SEQUENCE_2, load

    words = {w.strip(".,'").lower() for text in (SEQUENCE_0, SEQUENCE_1, SEQUENCE_2) for w in text.split()}
    words |= {"'", "s"}  # HuggingFace's -> huggingface ' s
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(words)]) + "\n")
    BertTokenizer(str(vocab)).save_pretrained(tmp_path / "model")
    config = BertConfig(vocab_size=5 + len(words), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=2)
    BertForSequenceClassification(config).save_pretrained(tmp_path / "model")

    loaded = load(str(tmp_path / "model"), batch_size=2, sequence_length=16)
    paraphrase, not_paraphrase = loaded.examples
    assert paraphrase[0].shape == (2, 16) and not torch.equal(paraphrase[0], not_paraphrase[0])
    assert int((paraphrase[0][0] == 1).sum()) == 0  # every word of the pair is in the vocabulary

    output = tmp_path / "result.json"
    assert cli.main(["run", "--model", str(tmp_path / "model"), "--batch-size", "2", "--sequence-length", "16",
                     "--duration", "0.1", "--output", str(output)]) == 0
    result = BenchmarkResult.model_validate_json(output.read_text())
    assert result.batch_size == 2 and result.inferences >= 2 * 20  # at least --min-samples batches
    assert result.correctness is not None and result.correctness.passed


def test_heartbeats_run_for_the_whole_task_not_only_while_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model download or a Neuron compile longer than the step's HeartbeatSeconds must not time it out."""
    from neuronbench import models

    class Sfn:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def send_task_heartbeat(self, taskToken: str) -> None:
            self.calls.append("heartbeat")

        def send_task_success(self, taskToken: str, output: str) -> None:
            self.calls.append("success")

    sfn = Sfn()
    monkeypatch.setattr("boto3.client", lambda service: sfn)
    monkeypatch.setattr(cli, "HEARTBEAT_SECONDS", 0.05)
    monkeypatch.setenv(cli.TOKEN_ENV, "token")
    real_load = models.load

    def slow_load(*args: object) -> object:  # stands in for a long download + trace: 3 heartbeats long
        import time

        sfn.calls.append("load started")
        deadline = time.monotonic() + 10  # generous for a loaded machine; the old harness sent none here
        while sfn.calls.count("heartbeat") < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        sfn.calls.append("load done")
        return real_load(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(models, "load", slow_load)
    assert cli.main(["run", "--model", "noop", "--duration", "0.05", "--min-samples", "5", "--json"]) == 0
    during_load = sfn.calls[sfn.calls.index("load started"):sfn.calls.index("load done")]
    assert during_load.count("heartbeat") >= 3
    assert sfn.calls[-1] == "success"


def test_a_result_too_large_for_step_functions_drops_its_slowest_histograms_first() -> None:
    import numpy as np
    from neuronlab_core import latency

    noise = np.random.default_rng(3)
    wide = [latency.encode(noise.lognormal(14.5, 1.5, 200_000).astype(np.int64)) for _ in range(4)]
    point = {"inferences": 10, "duration_s": 1.0, "latency_ms": {"p50": 1, "p90": 1, "p95": 1, "p99": 1, "p999": 1}}
    sweep = [{**point, "models": m, "threads": m, "throughput": float(m), "histogram": wide[m % 4]}
             for m in range(1, 49)]
    result = BenchmarkResult.model_validate({
        **point, "run_id": "big", "model": "m", "backend": "neuron", "instance_type": "inf2.48xlarge",
        "batch_size": 1, "sequence_length": 128, "warmup": 0, "throughput": 48.0, "histogram": wide[0],
        "sweep": sweep, "started_at": "2026-11-27T00:00:00Z", "finished_at": "2026-11-27T00:00:00Z"})
    assert len(result.model_dump_json()) > 262144  # what SendTaskSuccess would refuse
    cli.within_budget(result)
    assert len(result.model_dump_json()) <= cli.RESULT_BUDGET
    kept = [p.models for p in result.sweep if p.histogram]
    assert result.histogram and kept and min(kept) > max(p.models for p in result.sweep if not p.histogram)


def test_the_neuron_fingerprint_names_what_it_can_read_and_leaves_out_the_rest(monkeypatch: pytest.MonkeyPatch,
                                                                            tmp_path: Path) -> None:
    import importlib.metadata
    import subprocess

    installed = {"torch-neuronx": "2.9.0.2.11", "neuronx-cc": "2.21.18209"}

    def version(package: str) -> str:
        if package not in installed:
            raise importlib.metadata.PackageNotFoundError(package)
        return installed[package]

    monkeypatch.setattr(importlib.metadata, "version", version)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, "2.29.41.0-aaa\n", ""))
    driver = tmp_path / "version"
    driver.write_text("2.25.4.0\n")
    monkeypatch.setattr(cli, "DRIVER_VERSION", driver)
    assert cli._neuron_versions() == {**installed, "neuron-runtime": "2.29.41.0-aaa", "neuron-driver": "2.25.4.0"}
    # no dpkg, no driver loaded: those are left out, not guessed
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(FileNotFoundError("dpkg-query")))
    monkeypatch.setattr(cli, "DRIVER_VERSION", tmp_path / "absent")
    assert cli._neuron_versions() == installed
