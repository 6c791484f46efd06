"""Failures moto cannot produce, injected on purpose by tests (and only by tests).

moto creates a stack synchronously and never fails it for capacity reasons, a local notebook process never
crash-loops by itself, and an in-process Lambda never times out; these switches make them happen through
the real code paths.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from moto.cloudformation.models import CloudFormationBackend


@dataclass
class Faults:
    # reason given to every environment stack created while set (ends ROLLBACK_COMPLETE)
    stack_failure: str | None = None
    # the notebook container exits at once (ECS would restart it; it never becomes healthy)
    notebook_crash: bool = False
    # environment stacks stay CREATE_IN_PROGRESS (CloudFormation still waiting on a resource)
    stack_in_progress: bool = False
    # handler name -> how many of its next invocations run and then fail, as a Lambda that timed out after
    # doing its work (its side effects happen, the workflow sees Sandbox.Timedout)
    time_out_after: dict[str, int] = field(default_factory=dict)
    # handler name -> how many of its next invocations fail before running (a throttled invocation)
    fail_before: dict[str, int] = field(default_factory=dict)
    # handler name -> seconds its invocations wait before running (a window to abort an execution in)
    delay: dict[str, float] = field(default_factory=dict)
    # variables every function gets on top of its template's, as a changed template would give them
    # (a deadline short enough for a test)
    variables: dict[str, str] = field(default_factory=dict)

    def take(self, counts: dict[str, int], handler: str) -> bool:
        """Whether this invocation of `handler` is one of the counted ones (and count it)."""
        if counts.get(handler, 0) <= 0:
            return False
        counts[handler] -= 1
        return True


class LambdaTimedOut(Exception):
    """What the Lambda runtime reports for an invocation that ran past its timeout."""


active = Faults()

_original_create_stack = CloudFormationBackend.create_stack


def _create_stack(self: CloudFormationBackend, *args: Any, **kwargs: Any) -> Any:
    stack = _original_create_stack(self, *args, **kwargs)
    if active.stack_failure and stack.name.startswith("neuronlab-env-"):
        stack._add_stack_event("CREATE_FAILED", resource_status_reason=active.stack_failure)
        stack._add_stack_event("ROLLBACK_COMPLETE")
        stack.status = "ROLLBACK_COMPLETE"
    elif active.stack_in_progress and stack.name.startswith("neuronlab-env-"):
        stack.status = "CREATE_IN_PROGRESS"
    return stack


CloudFormationBackend.create_stack = _create_stack  # type: ignore[method-assign]


def notebook_command(default: list[str]) -> list[str]:
    return [sys.executable, "-c", "raise SystemExit(3)"] if active.notebook_crash else default
