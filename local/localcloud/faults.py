"""Failures moto cannot produce, injected on purpose by tests (and only by tests).

moto creates a stack synchronously and never fails it for capacity reasons, and a local notebook
process never crash-loops by itself; these switches make both happen through the real code paths.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from moto.cloudformation.models import CloudFormationBackend


@dataclass
class Faults:
    # reason given to every environment stack created while set (ends ROLLBACK_COMPLETE)
    stack_failure: str | None = None
    # the notebook container exits at once (ECS would restart it; it never becomes healthy)
    notebook_crash: bool = False


active = Faults()

_original_create_stack = CloudFormationBackend.create_stack


def _create_stack(self: CloudFormationBackend, *args: Any, **kwargs: Any) -> Any:
    stack = _original_create_stack(self, *args, **kwargs)
    if active.stack_failure and stack.name.startswith("neuronlab-env-"):
        stack._add_stack_event("CREATE_FAILED", resource_status_reason=active.stack_failure)
        stack._add_stack_event("ROLLBACK_COMPLETE")
        stack.status = "ROLLBACK_COMPLETE"
    return stack


CloudFormationBackend.create_stack = _create_stack  # type: ignore[method-assign]


def notebook_command(default: list[str]) -> list[str]:
    return [sys.executable, "-c", "raise SystemExit(3)"] if active.notebook_crash else default
