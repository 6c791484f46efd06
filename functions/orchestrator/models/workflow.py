"""The state machine's working document, as each Task receives it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class BenchmarkSpec(BaseModel):
    enabled: bool = True
    model: str = "random:bert-base"
    seconds: int = Field(default=30, ge=1)
    scenario: Literal["latency", "throughput", "all"] = "latency"
    gate: bool = False  # a failed benchmark fails the start


class WorkflowState(BaseModel):
    """Validated on entry to every step; steps add their results under their own key (ResultPath)."""

    model_config = ConfigDict(extra="allow")

    # start: the whole workflow; benchmark: its benchmark branch alone, on a READY environment (no stacks, so
    # no allow-list or polling cadence)
    mode: Literal["start", "benchmark"] = "start"
    name: str
    instance_type: str = Field(alias="instanceType")
    image: Any
    allow_cidrs: list[str] = Field(default_factory=list, alias="allowCidrs")
    benchmark: BenchmarkSpec
    waits: dict[str, int] = Field(default_factory=dict)
    timeouts: dict[str, int]


class TokenTaskEvent(BaseModel):
    """Payload of a lambda:invoke.waitForTaskToken Task."""

    input: WorkflowState
    task_token: str = Field(alias="taskToken", min_length=1)
    execution: str = Field(default="", max_length=80, description="the execution's name: RunTask's idempotency key")
