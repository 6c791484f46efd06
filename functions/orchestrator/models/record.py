"""The environments table's item, typed: what EnvironmentStore returns. Attribute names are the table's
(camelCase); the API's view of it is models.environment.Environment.

msgspec for the same reason as the workflow state (models/workflow.py): the sweep and the task-event function
read records on every cold start and need no pydantic. Unknown attributes are ignored on read (an item written
by an older version still loads); the store refuses to write an attribute that is not a field here.
"""

from __future__ import annotations

from typing import Any

import msgspec

from orchestrator.models.states import EnvironmentState


class _Part(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    pass


class IdlePolicySettings(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The start request's idle policy (stored snake_case, as domain.idle.IdlePolicy names it)."""

    idle_minutes: float | None = None
    grace_minutes: float | None = None
    max_lifetime_hours: float | None = None
    warning_minutes: float | None = None


class Placement(_Part):
    """Where the group may launch: subnet -> zone, zones left out after a capacity failure, since when."""

    subnet_zones: dict[str, str]
    since: str
    excluded: list[str] = []


class BenchmarkRun(_Part):
    """The one benchmark an environment runs (the start's, or one on demand). The idle sweep counts it as
    activity until it ends (StoreMetrics or RecordBenchmarkFailure remove it), or until `deadline`."""

    model: str
    seconds: int
    started_at: str
    deadline: str
    execution_arn: str | None = None
    scenario: str | None = None
    by: str | None = None


class LastBenchmark(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The summary of the latest stored result (its keys as the benchmarks table names them)."""

    run_id: str
    model: str
    backend: str
    throughput: float
    verdict: str
    run_key: str = msgspec.field(name="runKey")
    p50_ms: float | None = None


class BenchmarkFailureNote(_Part):
    reason: str
    at: str


class SweepDecision(_Part):
    """The idle sweep's last decision on a READY environment, with what it saw."""

    environment: str
    action: str
    reason: str
    at: str
    evidence: dict[str, Any] = {}


class EnvironmentRecord(_Part):
    name: str
    state: EnvironmentState
    owner: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    updated_by: str | None = None
    # what was asked for
    instance_type: str | None = None
    image: str | None = None
    allow_cidrs: list[str] = []
    warm_pool: bool = False
    idle_policy: IdlePolicySettings | None = None
    # what the workflow made
    execution_arn: str | None = None
    stack_name: str | None = None
    token_secret_arn: str | None = None
    image_digest: str | None = None
    listener_priority: int | None = None
    placement: Placement | None = None
    url: str | None = None
    ready_at: str | None = None
    # the benchmark
    benchmark_run: BenchmarkRun | None = None
    benchmark_task_arn: str | None = None
    benchmark_task_token: str | None = None  # the workflow's; never shown by the API
    last_benchmark: LastBenchmark | None = None
    last_benchmark_failure: BenchmarkFailureNote | None = None
    # failures, stops, deletes, idleness
    failure_reason: str | None = None
    capacity: str | None = None
    stop_reason: str | None = None
    stop_evidence: dict[str, Any] | None = None
    stopped_at: str | None = None
    delete_requested_at: str | None = None
    deleted_at: str | None = None
    retained_file_system_id: str | None = None
    last_sweep: SweepDecision | None = None
    unreachable_count: int = 0
    idle_warning_at: str | None = None


# The table's attribute names: the store writes nothing else.
ATTRIBUTES = frozenset(EnvironmentRecord.__struct_encode_fields__)


def record_from_item(item: dict[str, Any]) -> EnvironmentRecord:
    return msgspec.convert(item, EnvironmentRecord)


def to_item(value: Any) -> Any:
    """A record, a part of one or a plain value as DynamoDB-ready builtins (camelCase keys, defaults left out)."""
    return msgspec.to_builtins(value)
