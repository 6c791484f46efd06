"""The state machine's working document, as each Task receives it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class BenchmarkSpec(BaseModel):
    enabled: bool = True
    model: str = "random:bert-base"
    seconds: int = Field(default=30, ge=1)
    gate: bool = False  # a failed benchmark fails the start


class WorkflowState(BaseModel):
    """Validated on entry to every step; steps add their results under their own key (ResultPath)."""

    model_config = ConfigDict(extra="allow")

    name: str
    instance_type: str = Field(alias="instanceType")
    image: Any
    allow_cidrs: list[str] = Field(alias="allowCidrs")
    benchmark: BenchmarkSpec
    waits: dict[str, int]
    timeouts: dict[str, int]


class TokenTaskEvent(BaseModel):
    """Payload of a lambda:invoke.waitForTaskToken Task."""

    input: WorkflowState
    task_token: str = Field(alias="taskToken", min_length=1)
    execution: str = Field(default="", max_length=80, description="the execution's name: RunTask's idempotency key")
