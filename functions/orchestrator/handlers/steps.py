"""One Lambda handler per provisioning workflow step: parse the state into its model, call the domain, return
the step's result as the state machine stores it."""

from __future__ import annotations

from typing import Any

from orchestrator.domain import provisioning
from orchestrator.errors import InvalidWorkflowState
from orchestrator.models.workflow import TokenTaskEvent, WorkflowState, parse, to_json
from orchestrator.observability import lambda_entry, logger


def _state(event: dict[str, Any]) -> WorkflowState:
    state = parse(event, WorkflowState)
    logger.append_keys(environment=state.name)
    return state


@lambda_entry()
def check_image(event: dict[str, Any], context: Any) -> dict[str, Any]:
    state = _state(event)
    image = state.image if isinstance(state.image, str) else state.image.uri
    return to_json(provisioning.check_image(image))


@lambda_entry("environments_table", "activity_table", "artifact_bucket", "environment_stack_role_arn",
              "role_boundary_arn", "shared_network_stack")
def deploy_stacks(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return to_json(provisioning.deploy_stacks(_state(event)))


@lambda_entry("environments_table")
def check_stack(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return to_json(provisioning.check_stack(_state(event)))


@lambda_entry("environments_table")
def check_notebook(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return to_json(provisioning.check_notebook(_state(event)))


@lambda_entry("environments_table")
def mark_ready(event: dict[str, Any], context: Any) -> dict[str, Any]:
    state = _state(event)
    if state.notebook is None:
        raise InvalidWorkflowState("MarkReady runs after CheckNotebook: the state has no notebook")
    return to_json(provisioning.mark_ready(state.name, state.notebook.url))


@lambda_entry("environments_table")
def run_benchmark(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parsed = parse(event, TokenTaskEvent)
    logger.append_keys(environment=parsed.input.name)
    return to_json(provisioning.run_benchmark(parsed.input, parsed.task_token, parsed.execution))


@lambda_entry("environments_table")
def record_benchmark_failure(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return to_json(provisioning.record_benchmark_failure(_state(event)))


@lambda_entry("environments_table", "benchmarks_table")
def store_metrics(event: dict[str, Any], context: Any) -> dict[str, Any]:
    state = _state(event)
    return to_json(provisioning.store_metrics(state.result or {}, state))


@lambda_entry("environments_table")
def mark_failed(event: dict[str, Any], context: Any) -> dict[str, Any]:
    state = _state(event)
    return to_json(provisioning.mark_failed(state.name, state.error))
