"""The provisioning workflow's state document: what the API starts an execution with, and what each Task adds
under its ResultPath. One typed shape, parsed on entry to every step; tests/unit/test_workflow_state.py checks
every path the state machine reads or writes against it.

msgspec, not pydantic: these are internal documents that only our API and our state machine write, parsed on
every cold start of nine functions; msgspec defines and checks them in a fraction of pydantic's model-building
time (bench/cold_start.py). pydantic stays where a schema is public (the API's OpenAPI contract, the harness
result the image writes).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import msgspec

Seconds = Annotated[int, msgspec.Meta(ge=1)]
T = TypeVar("T", bound=msgspec.Struct)


class _Part(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """camelCase on the wire (the ASL's paths), snake_case in Python; an unknown key is an error."""


class ResolvedImage(_Part, omit_defaults=True):
    """CheckImage's result ($.image): the image pinned to the digest it had when checked. A benchmark on demand
    knows only the digest its environment runs."""

    uri: str = ""
    digest: str = ""
    pinned_uri: str = ""


class BenchmarkSpec(_Part):
    enabled: bool = True
    model: str = "random:bert-base"
    seconds: Seconds = 30
    scenario: Literal["latency", "throughput", "all"] = "latency"
    gate: bool = False  # a failed benchmark fails the start


class Waits(_Part):
    """The Wait states' cadence (LocalCloud deploys with short polls)."""

    stack_seconds: Seconds
    notebook_seconds: Seconds


class Timeouts(_Part):
    """Deadlines: the steps' own, and the benchmark Task's TimeoutSecondsPath and HeartbeatSecondsPath."""

    stack_seconds: Seconds
    notebook_seconds: Seconds
    benchmark_seconds: Seconds
    benchmark_heartbeat_seconds: Seconds


class StackProgress(_Part):
    """DeployStacks' and CheckStack's result ($.stack): `complete` ends the StackSettled loop."""

    name: str
    operation: str
    deadline: float  # epoch seconds
    complete: bool = False
    status: str | None = None
    outputs: dict[str, str] = {}
    notebook_deadline: float | None = None  # set once the stack is complete
    placement: str | None = None  # a move to other zones after a capacity failure, as a person reads it


class NotebookCheck(_Part):
    """CheckNotebook's result ($.notebook): `healthy` ends the NotebookHealthy loop."""

    healthy: bool
    url: str
    detail: str


class Ready(_Part):
    """MarkReady's result ($.environment)."""

    state: str
    url: str


class StartedTask(_Part):
    task_arn: str


class Stored(_Part):
    """StoreMetrics' result ($.stored)."""

    series: str
    run_key: str
    verdict: str
    confirmed: list[str] = []  # first runs of the changes this run confirmed


class BenchmarkFailure(_Part):
    """RecordBenchmarkFailure's result ($.benchmarkFailure): `gate` decides BenchmarkGate."""

    reason: str
    gate: bool


class Failed(_Part):
    """MarkFailed's result ($.failed)."""

    state: str
    reason: str
    capacity: str


class CaughtError(msgspec.Struct, forbid_unknown_fields=True):
    """What a Catch puts at its ResultPath; Lambda's Cause is JSON with errorMessage."""

    error: str = msgspec.field(name="Error")
    cause: str = msgspec.field(name="Cause", default="")


class WorkflowState(_Part):
    # start: the whole workflow; benchmark: its benchmark branch alone, on a READY environment (no stacks, so
    # no allow-list or polling cadence)
    name: str
    instance_type: str
    image: str | ResolvedImage  # the URI asked for, until CheckImage resolves it
    benchmark: BenchmarkSpec
    timeouts: Timeouts
    mode: Literal["start", "benchmark"] = "start"
    allow_cidrs: list[str] = []
    warm_pool: bool = False
    waits: Waits | None = None
    # added by the Tasks, in the order they run
    stack: StackProgress | None = None
    notebook: NotebookCheck | None = None
    environment: Ready | None = None
    result: dict[str, Any] | None = None  # the harness's output (SendTaskSuccess); StoreMetrics validates it
    stored: Stored | None = None
    benchmark_failure: BenchmarkFailure | None = None
    failed: Failed | None = None
    error: CaughtError | None = None
    record_error: CaughtError | None = None
    release_error: CaughtError | None = None

    @property
    def resolved(self) -> ResolvedImage:
        if isinstance(self.image, str):
            raise ValueError(f"image {self.image} has not been checked yet (CheckImage runs first)")
        return self.image


class TokenTaskEvent(_Part):
    """Payload of a lambda:invoke.waitForTaskToken Task."""

    input: WorkflowState
    task_token: Annotated[str, msgspec.Meta(min_length=1)]
    execution: Annotated[str, msgspec.Meta(max_length=80)] = ""  # the execution's name: RunTask's idempotency key


def parse(event: Any, kind: type[T]) -> T:
    """An event as its model; a malformed one is an InvalidWorkflowState naming the path and the rule."""
    from orchestrator.errors import InvalidWorkflowState

    try:
        return msgspec.convert(event, kind)
    except msgspec.ValidationError as error:
        raise InvalidWorkflowState(f"{kind.__name__}: {error}") from None


def to_json(value: msgspec.Struct) -> dict[str, Any]:
    """A step's result as the state machine stores it (camelCase keys)."""
    return msgspec.to_builtins(value)
