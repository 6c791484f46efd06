"""The benchmark result: written by the harness, stored by StoreMetrics, returned by the API.

Part of neuronlab_core: what the Lambda asset and the image both need, nothing else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from neuronlab_core import latency
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

Backend = Literal["neuron", "cuda", "cpu"]
Scenario = Literal["latency", "throughput", "all"]


def _storable(value: float) -> float:
    """DynamoDB keeps numbers of magnitude 1e-130 to 9.99e125: a smaller measurement is 0 here; LIMIT refuses
    larger ones (and infinities, and NaN)."""
    return 0.0 if abs(value) < 1e-100 else value


# A run id names a run in URLs and keys (GET /benchmarks/runs/{runId}): no '/', '#' or spaces
RUN_ID_PATTERN = r"^[A-Za-z0-9._:-]+$"
LIMIT = 1e15
# Every measured number: non-negative, finite, storable
Measured = Annotated[float, Field(ge=0, le=LIMIT), AfterValidator(_storable)]
# Counted things (inferences, threads, batch size): whole, bounded (DynamoDB keeps 38 digits)
Count = Annotated[int, Field(ge=1, le=10**12)]
# Strings that become keys (the series, the run key) or sit next to them
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


def _decodable(text: str | None) -> str | None:
    if text is not None:
        latency.decode(text)  # ValueError: pydantic names the field
    return text


# Every latency of a configuration (latency.py); checked to decode, so a comparison never meets a broken one
Histogram = Annotated[str | None, Field(max_length=latency.MAX_ENCODED_CHARS),
                      AfterValidator(_decodable)]
# Throughput (inferences per second) in each of the run's equal time windows: how steady it was
Windows = Annotated[list[Measured], Field(max_length=30)]


class Workload(BaseModel):
    """What a model is asked to do in a run, beside the model itself; the defaults are the harness's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_size: Count = 1
    sequence_length: Count = 128
    dtype: Name = "float32"
    parallelism: Count = 1
    scenario: Scenario = "latency"

    @property
    def key(self) -> str:
        return f"b{self.batch_size}#s{self.sequence_length}#{self.dtype}#p{self.parallelism}#{self.scenario}"


class Latency(BaseModel):
    """Per-request latency percentiles in milliseconds."""

    model_config = ConfigDict(extra="forbid")

    p50: Measured
    p90: Measured
    p95: Measured
    p99: Measured
    p999: Measured


class Correctness(BaseModel):
    """The accelerated model's logits against a CPU reference on fixed inputs."""

    model_config = ConfigDict(extra="forbid")

    max_abs_diff: Measured
    classes_agree: bool
    tolerance: Measured = Field(gt=0)

    @property
    def passed(self) -> bool:
        return self.classes_agree and self.max_abs_diff <= self.tolerance


class SweepPoint(BaseModel):
    """One configuration of the throughput sweep: `models` copies served by `threads` threads."""

    model_config = ConfigDict(extra="forbid")

    models: Count
    threads: Count
    intra_op_threads: Count | None = None  # CPU only: torch threads per inference
    warmup: Annotated[int, Field(ge=0, le=10**12)] = 0
    inferences: Count
    duration_s: Measured = Field(gt=0)
    throughput: Measured
    latency_ms: Latency
    histogram: Histogram = None
    throughput_windows: Windows = []  # noqa: RUF012 (pydantic copies defaults)


class BenchmarkResult(BaseModel):
    """One run. The headline numbers (models, threads, latency, throughput, histogram) are the latency
    scenario's (1 model, 1 thread) when it ran, else the best configuration of the throughput sweep; `sweep`
    lists every configuration tried.

    The series (what defines the workload: model, backend, instance type, batch, sequence length, dtype,
    parallelism, scenario) is what runs are compared within; everything else describing where and with what
    a run ran (versions, image, AMI, zone, compiler arguments) is its fingerprint, annotations inside a
    series, so that a change of version shows up as the cause of a change point."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(min_length=1, max_length=128, pattern=RUN_ID_PATTERN)
    model: Name
    backend: Backend
    scenario: Scenario = "latency"
    instance_type: str = Field(min_length=1, max_length=64)
    batch_size: Count
    sequence_length: Count
    dtype: Name = Field(default="float32", description="the weights' and inputs' type as the model was loaded")
    parallelism: Count = Field(default=1, description="NeuronCores (or GPUs) one model copy runs on")
    compiler_args: list[Name] = Field(default_factory=list, max_length=32,
                                      description="arguments given to the Neuron compiler (none: its defaults)")
    models: Count = 1
    threads: Count = 1
    warmup: Annotated[int, Field(ge=0, le=10**12)]
    duration_s: Measured = Field(gt=0)
    inferences: Count
    throughput: Measured = Field(description="inferences per second")
    latency_ms: Latency
    histogram: Histogram = None
    throughput_windows: Windows = []  # noqa: RUF012 (pydantic copies defaults)
    sweep: list[SweepPoint] = Field(default_factory=list, max_length=64)
    correctness: Correctness | None = None
    cost_per_million_usd: Measured | None = None
    versions: dict[Name, Name] = Field(default_factory=dict, max_length=64)
    image_digest: str | None = Field(default=None, max_length=200)
    # Where it ran, as ECS knows the container instance (StoreMetrics asks ECS; a task cannot set them)
    availability_zone: Name | None = None
    ami_id: Name | None = None
    environment: str | None = Field(default=None, min_length=1, max_length=64)
    started_at: datetime
    finished_at: datetime

    @property
    def best(self) -> SweepPoint | None:
        """The sweep's highest-throughput configuration."""
        return max(self.sweep, key=lambda p: p.throughput, default=None)

    @property
    def workload(self) -> Workload:
        return Workload(batch_size=self.batch_size, sequence_length=self.sequence_length, dtype=self.dtype,
                        parallelism=self.parallelism, scenario=self.scenario)

    @property
    def series(self) -> str:
        """The history a run is compared with: the same workload of the same model on the same hardware and
        backend."""
        return series_key(self.model, self.instance_type, self.backend, self.workload)


def series_key(model: str, instance_type: str, backend: str, workload: Workload) -> str:
    """A series' partition key."""
    return f"{model}#{instance_type}#{backend}#{workload.key}"


class BenchmarkPage(BaseModel):
    """GET /benchmarks: stored runs, newest first, and the token of the next page (None on the last)."""

    model_config = ConfigDict(populate_by_name=True)

    benchmarks: list[dict[str, Any]]
    next_token: str | None = Field(default=None, alias="nextToken")


class RegressionPage(BaseModel):
    """GET /benchmarks/regressions: confirmed regressions, newest first, and the token of the next page."""

    model_config = ConfigDict(populate_by_name=True)

    regressions: list[dict[str, Any]]
    next_token: str | None = Field(default=None, alias="nextToken")


class ImportedRun(BaseModel):
    """POST /benchmarks: where the imported run went, its verdict, and the changes it confirmed."""

    model_config = ConfigDict(populate_by_name=True)

    series: str
    run_key: str = Field(alias="runKey")
    verdict: str
    confirmed: list[str] = Field(default_factory=list, description="first runs of the changes it confirmed")


class Comparison(BaseModel):
    """GET /benchmarks/compare: a model doing one workload on each instance type x backend, cheapest per million
    inferences first within the page, and the token of the next page."""

    model_config = ConfigDict(populate_by_name=True)

    model: str
    workload: Workload
    configurations: list[dict[str, Any]]
    next_token: str | None = Field(default=None, alias="nextToken")


class RunComparison(BaseModel):
    """GET /benchmarks/runs/{runId}/compare?to=: the other run against this one, per configuration both measured
    (ratios other / this, the latency test), and what differs between the runs."""

    model_config = ConfigDict(populate_by_name=True)

    base: dict[str, Any]
    other: dict[str, Any]
    same_series: bool = Field(alias="sameSeries")
    configurations: list[dict[str, Any]]
    differences: dict[str, list[str | None]]
    only_in: dict[str, list[str]] = Field(alias="onlyIn")
