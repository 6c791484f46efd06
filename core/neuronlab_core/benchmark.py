"""The benchmark result: written by the harness, stored by StoreMetrics, returned by the API.

Part of neuronlab_core: what the Lambda asset and the image both need, nothing else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

Backend = Literal["neuron", "cuda", "cpu"]
Scenario = Literal["latency", "throughput", "all"]


def _storable(value: float) -> float:
    """DynamoDB keeps numbers of magnitude 1e-130 to 9.99e125: a smaller measurement is 0 here; LIMIT refuses
    larger ones (and infinities, and NaN)."""
    return 0.0 if abs(value) < 1e-100 else value


LIMIT = 1e15
# Every measured number: non-negative, finite, storable
Measured = Annotated[float, Field(ge=0, le=LIMIT), AfterValidator(_storable)]
# Counted things (inferences, threads, batch size): whole, bounded (DynamoDB keeps 38 digits)
Count = Annotated[int, Field(ge=1, le=10**12)]
# Strings that become keys (the series, the run key) or sit next to them
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


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
    inferences: Count
    duration_s: Measured = Field(gt=0)
    throughput: Measured
    latency_ms: Latency


class BenchmarkResult(BaseModel):
    """One run. The headline numbers (models, threads, latency, throughput) are the latency scenario's
    (1 model, 1 thread) when it ran, else the best configuration of the throughput sweep; `sweep`
    lists every configuration tried."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(min_length=1, max_length=128)
    model: Name
    backend: Backend
    scenario: Scenario = "latency"
    instance_type: str = Field(min_length=1, max_length=64)
    batch_size: Count
    sequence_length: Count
    models: Count = 1
    threads: Count = 1
    warmup: Annotated[int, Field(ge=0, le=10**12)]
    duration_s: Measured = Field(gt=0)
    inferences: Count
    throughput: Measured = Field(description="inferences per second")
    latency_ms: Latency
    sweep: list[SweepPoint] = Field(default_factory=list, max_length=64)
    correctness: Correctness | None = None
    cost_per_million_usd: Measured | None = None
    versions: dict[Name, Name] = Field(default_factory=dict, max_length=64)
    image_digest: str | None = Field(default=None, max_length=200)
    environment: str | None = Field(default=None, min_length=1, max_length=64)
    started_at: datetime
    finished_at: datetime

    @property
    def best(self) -> SweepPoint | None:
        """The sweep's highest-throughput configuration."""
        return max(self.sweep, key=lambda p: p.throughput, default=None)

    @property
    def series(self) -> str:
        """The history a run is compared with: same model on the same hardware and backend."""
        return f"{self.model}#{self.instance_type}#{self.backend}"


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
    """GET /benchmarks/compare: a model's configurations (instance type x backend x scenario), cheapest first."""

    model: str
    configurations: list[dict[str, Any]]
