"""REST API (API Gateway, AWS_IAM auth): environments and benchmark history."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from pydantic import ValidationError

from orchestrator.domain import environments, lifecycle
from orchestrator.domain.transitions import WHAT_NEXT
from orchestrator.errors import (
    EnvironmentConflict,
    EnvironmentNotFound,
    InvalidRequest,
    LimitExceeded,
    WorkflowNotStarted,
)
from orchestrator.models.environment import RestartRequest, StartCommand, StartRequest
from orchestrator.observability import lambda_entry, logger
from orchestrator.settings import settings

app = APIGatewayRestResolver()

MAX_PAGE = 100
# A client that retries a start with the same clientToken (timeout, lost response) within this window
# gets the first attempt's answer instead of a 409 caused by that attempt.
START_IDEMPOTENCY_SECONDS = 300


def _start(command: StartCommand) -> dict[str, Any]:
    return environments.start(command.request, command.source_ip)


@lru_cache(maxsize=4)
def _idempotent_start(table_name: str) -> Any:
    return idempotent_function(
        _start, data_keyword_argument="command",
        persistence_store=DynamoDBPersistenceLayer(table_name=table_name),
        config=IdempotencyConfig(expires_after_seconds=START_IDEMPOTENCY_SECONDS),
    )


def _error(status: int, message: str, details: list[str] | None = None) -> Response:
    body: dict[str, Any] = {"message": message}
    if details:
        body["details"] = details
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@app.exception_handler(ValidationError)
def _invalid_body(error: ValidationError) -> Response:
    details = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors()]
    return _error(400, "invalid request", details)


@app.exception_handler(json.JSONDecodeError)
def _not_json(error: json.JSONDecodeError) -> Response:
    return _error(400, f"body: not valid JSON ({error.msg})")


@app.exception_handler(InvalidRequest)
def _invalid(error: InvalidRequest) -> Response:
    return _error(400, str(error))


@app.exception_handler(LimitExceeded)
def _over_limit(error: LimitExceeded) -> Response:
    return _error(403, str(error))


@app.exception_handler(EnvironmentNotFound)
def _not_found(error: EnvironmentNotFound) -> Response:
    return _error(404, str(error))


@app.exception_handler(EnvironmentConflict)
def _conflict(error: EnvironmentConflict) -> Response:
    hint = WHAT_NEXT.get(error.state)
    return _error(409, f"{error}: {hint}" if hint else str(error))


@app.exception_handler(WorkflowNotStarted)
def _not_started(error: WorkflowNotStarted) -> Response:
    return _error(503, str(error))


@app.post("/environments")
def start_environment() -> Response:
    body = app.current_event.json_body
    if not isinstance(body, dict):
        raise InvalidRequest("body: must be a JSON object")
    return _accepted(StartRequest.model_validate(body))


@app.post("/environments/<name>/start")
def restart_environment(name: str) -> Response:
    """Start a known environment again (warm path when stopped), with its recorded settings."""
    body = app.current_event.json_body if app.current_event.body else {}
    if not isinstance(body, dict):
        raise InvalidRequest("body: must be a JSON object")
    return _accepted(RestartRequest.model_validate(body).applied_to(environments.get(name)))


def _accepted(request: StartRequest) -> Response:
    command = StartCommand(request=request, source_ip=app.current_event.request_context.identity.source_ip)
    table = settings().idempotency_table
    idempotent = table and command.request.client_token
    record = _idempotent_start(table)(command=command) if idempotent else _start(command)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=record)


@app.get("/environments")
def list_environments() -> dict[str, Any]:
    return {"environments": environments.list_all()}


@app.post("/environments/<name>/stop")
def stop_environment(name: str) -> dict[str, Any]:
    """Scale to zero now; /home and the token stay for the next start."""
    return environments.public(lifecycle.stop(name, "stopped on request"))


@app.delete("/environments/<name>")
def delete_environment(name: str) -> Response:
    """Tear the environment's stacks down (DELETING until the stack is gone, then DELETED)."""
    record = environments.public(lifecycle.delete(name))
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=record)


@app.get("/environments/<name>")
def get_environment(name: str) -> dict[str, Any]:
    return environments.get(name)


@app.get("/benchmarks")
def benchmark_history() -> dict[str, Any]:
    query = app.current_event.query_string_parameters or {}
    try:
        limit = int(query.get("limit", "50"))
    except ValueError:
        raise InvalidRequest("limit: must be an integer") from None
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit: must be between 1 and {MAX_PAGE}")
    if query.get("backend") not in (None, "neuron", "cuda", "cpu"):
        raise InvalidRequest("backend: must be one of neuron, cuda, cpu")
    items, next_token = environments.history(
        model=query.get("model"), instance_type=query.get("instanceType"), backend=query.get("backend"),
        environment=query.get("environment"), limit=limit, next_token=query.get("nextToken"),
    )
    return {"benchmarks": items, "nextToken": next_token}


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.append_keys(path=event.get("path"))
    return app.resolve(event, context)
