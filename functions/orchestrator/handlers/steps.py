"""One Lambda handler per provisioning workflow step: parse, call the domain, return."""

from __future__ import annotations

from typing import Any

from orchestrator.domain import provisioning
from orchestrator.models.workflow import TokenTaskEvent, WorkflowState
from orchestrator.observability import lambda_entry, logger


def _state(event: dict[str, Any]) -> dict[str, Any]:
    WorkflowState.model_validate(event)
    logger.append_keys(environment=event["name"])
    return event


@lambda_entry
def check_image(event: dict[str, Any], context: Any) -> dict[str, str]:
    return provisioning.check_image(_state(event)["image"])


@lambda_entry
def deploy_stacks(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return provisioning.deploy_stacks(_state(event))


@lambda_entry
def check_stack(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return provisioning.check_stack(_state(event))


@lambda_entry
def check_notebook(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return provisioning.check_notebook(_state(event))


@lambda_entry
def mark_ready(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return provisioning.mark_ready(_state(event))


@lambda_entry
def run_benchmark(event: dict[str, Any], context: Any) -> dict[str, str]:
    parsed = TokenTaskEvent.model_validate(event)
    logger.append_keys(environment=parsed.input.name)
    return provisioning.run_benchmark(event["input"], parsed.task_token, parsed.execution)


@lambda_entry
def record_benchmark_failure(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return provisioning.record_benchmark_failure(_state(event))


@lambda_entry
def store_metrics(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return provisioning.store_metrics(event["result"], _state(event))


@lambda_entry
def mark_failed(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return provisioning.mark_failed(_state(event))
