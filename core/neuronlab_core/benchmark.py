"""The benchmark result: written by the harness, stored by StoreMetrics, returned by the API.

Part of neuronlab_core: what the Lambda asset and the image both need, nothing else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveFloat, PositiveInt

Backend = Literal["neuron", "cuda", "cpu"]
Scenario = Literal["latency", "throughput", "all"]


class Latency(BaseModel):
    """Per-request latency percentiles in milliseconds."""

    model_config = ConfigDict(extra="forbid")

    p50: float = Field(ge=0)
    p90: float = Field(ge=0)
    p95: float = Field(ge=0)
    p99: float = Field(ge=0)
    p999: float = Field(ge=0)


class Correctness(BaseModel):
    """The accelerated model's logits against a CPU reference on fixed inputs."""

    model_config = ConfigDict(extra="forbid")

    max_abs_diff: float = Field(ge=0)
    classes_agree: bool
    tolerance: float = Field(gt=0)

    @property
    def passed(self) -> bool:
        return self.classes_agree and self.max_abs_diff <= self.tolerance


class SweepPoint(BaseModel):
    """One configuration of the throughput sweep: `models` copies served by `threads` threads."""

    model_config = ConfigDict(extra="forbid")

    models: PositiveInt
    threads: PositiveInt
    intra_op_threads: PositiveInt | None = None  # CPU only: torch threads per inference
    inferences: PositiveInt
    duration_s: PositiveFloat
    throughput: float = Field(ge=0)
    latency_ms: Latency


class BenchmarkResult(BaseModel):
    """One run. The headline numbers (models, threads, latency, throughput) are the latency scenario's
    (1 model, 1 thread) when it ran, else the best configuration of the throughput sweep; `sweep`
    lists every configuration tried."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(min_length=1)
    model: str = Field(min_length=1)
    backend: Backend
    scenario: Scenario = "latency"
    instance_type: str = Field(min_length=1)
    batch_size: PositiveInt
    sequence_length: PositiveInt
    models: PositiveInt = 1
    threads: PositiveInt = 1
    warmup: NonNegativeInt
    duration_s: PositiveFloat
    inferences: PositiveInt
    throughput: float = Field(ge=0, description="inferences per second")
    latency_ms: Latency
    sweep: list[SweepPoint] = Field(default_factory=list)
    correctness: Correctness | None = None
    cost_per_million_usd: float | None = Field(default=None, ge=0)
    versions: dict[str, str] = Field(default_factory=dict)
    image_digest: str | None = None
    environment: str | None = None
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
