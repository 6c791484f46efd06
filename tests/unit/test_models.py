"""Request and result models: every rule names its field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from neuronlab_core.benchmark import BenchmarkResult
from pydantic import ValidationError

from orchestrator.models.environment import StartRequest


@pytest.mark.parametrize("name", ["a", "Demo", "-demo", "demo-", "x" * 33, "demo_1", "de mo"])
def test_malformed_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError) as error:
        StartRequest.model_validate({"name": name})
    assert error.value.errors()[0]["loc"] == ("name",)


def test_the_whole_internet_is_an_allow_list_only_with_the_explicit_flag() -> None:
    with pytest.raises(ValidationError, match="whole internet") as error:
        StartRequest.model_validate({"name": "demo", "allowCidrs": ["203.0.113.0/24", "0.0.0.0/0"]})
    assert error.value.errors()[0]["loc"] == ("allowCidrs",)
    opened = StartRequest.model_validate({"name": "demo", "allowCidrs": ["0.0.0.0/0"], "allowAnyAddress": True})
    assert opened.allow_cidrs == ["0.0.0.0/0"]


@pytest.mark.parametrize("cidr", ["::/0", "2001:db8::/64"])
def test_ipv6_is_refused_because_the_distribution_serves_ipv4(cidr: str) -> None:
    with pytest.raises(ValidationError, match="IPv4 only") as error:
        StartRequest.model_validate({"name": "demo", "allowCidrs": [cidr], "allowAnyAddress": True})
    assert error.value.errors()[0]["loc"] == ("allowCidrs", 0)


@pytest.mark.parametrize("cidr", ["10.0.0.300/32", "hello", "10.0.0.1/24"])
def test_bad_cidrs_are_refused(cidr: str) -> None:
    with pytest.raises(ValidationError) as error:
        StartRequest.model_validate({"name": "demo", "allowCidrs": [cidr]})
    assert error.value.errors()[0]["loc"] == ("allowCidrs", 0)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        StartRequest.model_validate({"name": "demo", "instancetype": "inf2.xlarge"})


def _result(**overrides: object) -> dict:
    now = datetime.now(UTC).isoformat()
    return {"run_id": "r1", "model": "m", "backend": "cpu", "instance_type": "inf2.xlarge", "batch_size": 1,
            "sequence_length": 128, "warmup": 8, "duration_s": 1.0, "inferences": 10, "throughput": 10.0,
            "latency_ms": {"p50": 1, "p90": 2, "p95": 3, "p99": 4, "p999": 5},
            "correctness": {"max_abs_diff": 0.001, "classes_agree": True, "tolerance": 0.05},
            "started_at": now, "finished_at": now, **overrides}


def test_result_round_trips_through_json() -> None:
    result = BenchmarkResult.model_validate(_result())
    again = BenchmarkResult.model_validate_json(result.model_dump_json())
    assert again == result
    assert again.series == "m#inf2.xlarge#cpu#b1#s128#float32#p1#latency"


def test_the_series_covers_the_workload_and_versions_stay_annotations() -> None:
    base = BenchmarkResult.model_validate(_result())
    workloads = [{"batch_size": 4}, {"sequence_length": 512}, {"dtype": "bfloat16"}, {"parallelism": 2},
                 {"scenario": "throughput"}]
    assert len({base.model_copy(update=w).series for w in workloads} | {base.series}) == len(workloads) + 1
    annotations = {"versions": {"neuronx-cc": "2.21"}, "image_digest": "sha256:1", "ami_id": "ami-1",
                   "availability_zone": "us-east-1a", "compiler_args": ["--auto-cast", "none"]}
    assert base.model_copy(update=annotations).series == base.series


def test_a_histogram_must_decode_to_the_harness_s_kind() -> None:
    from hdrh.histogram import HdrHistogram
    from neuronlab_core import latency

    assert BenchmarkResult.model_validate(_result(histogram=latency.encode([1_000_000] * 10))).histogram
    other = HdrHistogram(1, 1000, 2)
    other.record_value(5)
    for histogram, rule in [("not base64 at all", "not an encoded HDR histogram"),
                            (other.encode().decode(), "an HDR histogram of 1-3600000000 us"),
                            ("A" * (latency.MAX_ENCODED_CHARS + 1), "at most 65536 characters")]:
        with pytest.raises(ValidationError, match=rule) as error:
            BenchmarkResult.model_validate(_result(histogram=histogram))
        assert error.value.errors()[0]["loc"] == ("histogram",)


def test_result_rejects_unknown_backend_and_negative_latency() -> None:
    with pytest.raises(ValidationError) as error:
        BenchmarkResult.model_validate(_result(backend="tpu", latency_ms={"p50": -1, "p90": 2, "p95": 3, "p99": 4,
                                                                         "p999": 5}))
    locations = {e["loc"] for e in error.value.errors()}
    assert ("backend",) in locations and ("latency_ms", "p50") in locations


def test_correctness_passes_only_within_tolerance_and_agreeing_classes() -> None:
    base = BenchmarkResult.model_validate(_result()).correctness
    assert base is not None and base.passed
    assert not base.model_copy(update={"max_abs_diff": 0.5}).passed
    assert not base.model_copy(update={"classes_agree": False}).passed


@pytest.mark.parametrize("cidrs", [["0.0.0.0/1", "128.0.0.0/1"], ["10.0.0.0/7"]])
def test_blocks_wider_than_a_slash_8_need_allow_any_address(cidrs: list[str]) -> None:
    """Two /1 blocks are all of IPv4: refused like 0.0.0.0/0 unless asked for."""
    with pytest.raises(ValidationError) as error:
        StartRequest.model_validate({"name": "demo", "allowCidrs": cidrs})
    assert error.value.errors()[0]["loc"] == ("allowCidrs",) and "allowAnyAddress" in str(error.value)
    assert StartRequest.model_validate({"name": "demo", "allowCidrs": cidrs, "allowAnyAddress": True}).allow_cidrs


@pytest.mark.parametrize("model", ["x" * 201, "--help", "model; rm -rf /", "two words", ""])
def test_benchmark_model_is_a_name_or_a_path_of_bounded_length(model: str) -> None:
    with pytest.raises(ValidationError) as error:
        StartRequest.model_validate({"name": "demo", "benchmarkModel": model})
    assert error.value.errors()[0]["loc"] == ("benchmarkModel",)


@pytest.mark.parametrize("model", ["distilbert-base-uncased-finetuned-sst-2-english", "random:bert-base",
                                   "/home/jupyter/models/my-model", "org/model_v2.1"])
def test_benchmark_models_people_use_pass(model: str) -> None:
    assert StartRequest.model_validate({"name": "demo", "benchmarkModel": model}).benchmark_model == model


def test_settings_name_the_variable_that_is_missing_or_malformed(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.settings import SettingsError, require, settings

    monkeypatch.delenv("ENVIRONMENTS_TABLE", raising=False)
    monkeypatch.setenv("BENCHMARKS_TABLE", "b")
    settings.cache_clear()
    with pytest.raises(SettingsError, match="store: environment variable.s. ENVIRONMENTS_TABLE required"):
        require("store", ("environments_table", "benchmarks_table"))
    monkeypatch.setenv("ENVIRONMENTS_TABLE", "e")
    monkeypatch.setenv("STACK_POLL_SECONDS", "soon")
    settings.cache_clear()
    with pytest.raises(SettingsError, match="STACK_POLL_SECONDS: 'soon' is not a whole number"):
        settings()
    monkeypatch.setenv("STACK_POLL_SECONDS", "0")
    settings.cache_clear()
    with pytest.raises(SettingsError, match="STACK_POLL_SECONDS: must be at least 1"):
        settings()
    monkeypatch.setenv("STACK_POLL_SECONDS", "3")
    settings.cache_clear()
    assert settings().stack_poll_seconds == 3 and settings().environments_table == "e"
    settings.cache_clear()


def test_each_invocation_reads_its_own_functions_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where one process runs many functions (LocalCloud), a function does not see another's variables."""
    from orchestrator.settings import FUNCTION_VARIABLES, SettingsError, require, settings

    monkeypatch.setenv("BENCHMARKS_TABLE", "from-the-process")
    settings.cache_clear()
    token = FUNCTION_VARIABLES.set({"ENVIRONMENTS_TABLE": "e"})
    try:
        assert settings().environments_table == "e" and settings().benchmarks_table == ""
        with pytest.raises(SettingsError, match="BENCHMARKS_TABLE required"):
            require("store_metrics", ("benchmarks_table",))
    finally:
        FUNCTION_VARIABLES.reset(token)
    assert settings().benchmarks_table == "from-the-process"


def test_a_function_missing_a_variable_fails_when_lambda_loads_it() -> None:
    """On Lambda (`_HANDLER` names the handler being loaded) the init fails, naming the handler and variable;
    another handler of the same module, which does not need it, loads."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    functions = Path(__file__).resolve().parents[2] / "functions"
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_TABLE", "_ARN", "_BUCKET", "_STACK"))}

    def load(handler: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "import orchestrator.handlers.steps"], cwd=functions,
                              env={**env, "_HANDLER": handler, "ENVIRONMENTS_TABLE": "e"},
                              capture_output=True, text=True)

    failed = load("orchestrator.handlers.steps.store_metrics")
    assert failed.returncode != 0
    assert "orchestrator.handlers.steps.store_metrics: environment variable(s) BENCHMARKS_TABLE required" \
        in failed.stderr
    assert load("orchestrator.handlers.steps.mark_ready").returncode == 0


def test_a_histogram_that_inflates_past_its_bound_is_refused_before_it_is_inflated() -> None:
    """A payload with the right range and precision whose zlib data inflates to 32 MiB: read to 512 KiB, refused."""
    import base64
    import struct
    import tracemalloc
    import zlib

    from neuronlab_core import latency

    header = struct.pack(">IIIIQQd", 0x1C849313, 0, 0, latency.SIGNIFICANT_DIGITS, latency.LOWEST_US,
                         latency.HIGHEST_US, 1.0)
    compressed = zlib.compress(header + bytes(32 * 1024 * 1024), 9)
    text = base64.b64encode(struct.pack(">II", 0x1C849314, len(compressed)) + compressed).decode()
    assert len(text) < latency.MAX_ENCODED_CHARS
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="payload is over 524288 bytes decompressed"):
            latency.decode(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024
