"""REST API (API Gateway, AWS_IAM auth): environments and benchmark history.

Bodies, path and query parameters are validated by the resolver from the models in the signatures, and
every response against its declared model; the same models make the OpenAPI document (GET /openapi.json,
committed as docs/openapi.json). The caller is the IAM principal API Gateway authenticated: an
environment is its owner's, or an admin's (AdminPrincipals).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from neuronlab_core.benchmark import (
    RUN_ID_PATTERN,
    Backend,
    BenchmarkPage,
    BenchmarkResult,
    Comparison,
    ImportedRun,
    RegressionPage,
    RunComparison,
    Scenario,
    Workload,
)
from neuronlab_core.instance_types import UnsupportedInstanceType

from orchestrator.domain import environments, history, lifecycle
from orchestrator.domain.transitions import WHAT_NEXT
from orchestrator.errors import (
    AlreadyRecorded,
    EnvironmentConflict,
    EnvironmentNotFound,
    InvalidRequest,
    LimitExceeded,
    NotOwner,
    RunNotFound,
    WorkflowNotStarted,
)
from orchestrator.models.environment import (
    ENVIRONMENT_NAME_PATTERN,
    BenchmarkRequest,
    Environment,
    EnvironmentList,
    ErrorBody,
    RestartRequest,
    StartCommand,
    StartRequest,
    Token,
)
from orchestrator.models.record import EnvironmentRecord
from orchestrator.observability import lambda_entry, logger
from orchestrator.settings import settings

# A response that does not match its model is our bug: a 500, never a silently wrong body.
app = APIGatewayRestResolver(enable_validation=True, response_validation_error_http_code=500)

MAX_PAGE = 100
# A client that retries a start with the same clientToken (timeout, lost response) within this window
# gets the first attempt's answer instead of a 409 caused by that attempt.
START_IDEMPOTENCY_SECONDS = 300

Name = Annotated[str, Path(pattern=ENVIRONMENT_NAME_PATTERN, description="the environment's name")]

_WHY = {400: "invalid input: the message or details name the field and the rule",
        403: "not signed, not allowed by IAM, not the owner, or beyond a deployment limit",
        404: "no such environment", 409: "the environment's state does not allow this now (the message says "
                                          "what to do next)",
        429: "throttled (API Gateway)", 503: "the workflow could not start; the record is FAILED with the reason"}


def _errors(*codes: int) -> dict[int, Any]:
    """The error responses a route declares: all of the one ErrorBody shape."""
    return {code: {"description": _WHY[code], "content": {content_types.APPLICATION_JSON: {"model": ErrorBody}}}
            for code in sorted({400, 403, 429, *codes})}


def _caller() -> str:
    """The principal API Gateway authenticated (AWS_IAM): requestContext.identity.userArn."""
    arn = app.current_event.request_context.identity.user_arn
    if not arn:  # API Gateway never invokes us unsigned; a direct invoke without identity is refused
        raise NotOwner("the request carries no caller identity (it must come through the API, SigV4-signed)")
    return arn


def _view(record: EnvironmentRecord) -> Environment:
    return Environment.model_validate(environments.public(record))


def _start(command: StartCommand) -> dict[str, Any]:
    """The answer to a start, as the idempotency layer keeps it for a retry."""
    return environments.public(environments.start(command.request, command.caller, command.source_ip,
                                                  command.account))


@lru_cache(maxsize=4)
def _idempotent_start(table_name: str) -> Any:
    return idempotent_function(
        _start, data_keyword_argument="command",
        persistence_store=DynamoDBPersistenceLayer(table_name=table_name),
        config=IdempotencyConfig(expires_after_seconds=START_IDEMPOTENCY_SECONDS),
    )


def _error(status: int, message: str, details: list[str] | None = None) -> Response:
    body = ErrorBody(message=message, details=details).model_dump(exclude_none=True)
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _field(loc: tuple[Any, ...]) -> str:
    """('body', 'allowCidrs', 0) -> allowCidrs.0: the field as the client wrote it."""
    return ".".join(str(p) for p in loc[1:]) or loc[0]


@app.exception_handler(RequestValidationError)
def _invalid_input(error: RequestValidationError) -> Response:
    details = []
    for e in error.errors():
        if e["type"] == "json_invalid":
            return _error(400, f"body: not valid JSON ({e.get('ctx', {}).get('error', e['msg'])})")
        details.append(f"{_field(tuple(e['loc']))}: {e['msg']}")
    return _error(400, "invalid request", details)


# Each named failure's status; the message already names the field, the limit or the owner.
_STATUS: dict[type[Exception], int] = {InvalidRequest: 400, UnsupportedInstanceType: 400, LimitExceeded: 403,
                                       NotOwner: 403, EnvironmentNotFound: 404, RunNotFound: 404, AlreadyRecorded: 409,
                                       WorkflowNotStarted: 503}


@app.exception_handler(list(_STATUS))
def _named_failure(error: Exception) -> Response:
    return _error(next(code for kind, code in _STATUS.items() if isinstance(error, kind)), str(error))


@app.exception_handler(EnvironmentConflict)
def _conflict(error: EnvironmentConflict) -> Response:
    hint = WHAT_NEXT.get(error.state)
    return _error(409, f"{error}: {hint}" if hint else str(error))


def _accepted(request: StartRequest) -> Response[Environment]:
    caller = _caller()
    context = app.current_event.request_context
    command = StartCommand(request=request, caller=caller, account=context.account_id,
                           source_ip=context.identity.source_ip)
    table = settings().idempotency_table
    idempotent = table and command.request.client_token
    record = _idempotent_start(table)(command=command) if idempotent else _start(command)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=record)


@app.post("/environments", responses={202: {"description": "recorded as PROVISIONING; the workflow runs"},
                                      **_errors(409, 503)})
def start_environment(request: Annotated[StartRequest, Body()]) -> Response[Environment]:
    """Start a new environment (or start again one of yours that is stopped or failed)."""
    return _accepted(request)


@app.post("/environments/<name>/start",
          responses={202: {"description": "recorded as PROVISIONING; the workflow runs"}, **_errors(404, 409, 503)})
def restart_environment(name: Name,
                        changes: Annotated[RestartRequest | None, Body()] = None) -> Response[Environment]:
    """Start a known environment again (warm path when stopped), with its recorded settings."""
    record = environments.owned(name, _caller(), "start")
    return _accepted((changes or RestartRequest()).applied_to(record))


@app.get("/environments", responses={200: {"description": "your environments"}, **_errors()})
def list_environments() -> EnvironmentList:
    """Your environments (every environment for an admin)."""
    return EnvironmentList(environments=[_view(r) for r in environments.list_for(_caller())])


@app.post("/environments/<name>/stop", responses={200: {"description": "STOPPED"}, **_errors(404, 409)})
def stop_environment(name: Name) -> Environment:
    """Scale to zero now; /home and the token stay for the next start."""
    caller = _caller()
    environments.owned(name, caller, "stop")
    return _view(lifecycle.stop(name, "stopped on request", by=caller))


@app.delete("/environments/<name>", responses={202: {"description": "DELETING until the stack is gone"},
                                               **_errors(404, 409)})
def delete_environment(name: Name) -> Response[Environment]:
    """Tear the environment's stacks down (DELETING until the stack is gone, then DELETED)."""
    caller = _caller()
    environments.owned(name, caller, "delete")
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON,
                    body=_view(lifecycle.delete(name, by=caller)))


@app.get("/environments/<name>", responses={200: {"description": "the environment"}, **_errors(404)})
def get_environment(name: Name) -> Environment:
    return _view(environments.owned(name, _caller(), "see"))


@app.post("/environments/<name>/benchmarks",
          responses={202: {"description": "the benchmark runs; the record's benchmarkRun says which"},
                     **_errors(404, 409, 503)})
def benchmark_environment(name: Name,
                          request: Annotated[BenchmarkRequest | None, Body()] = None) -> Response[Environment]:
    """Run the benchmark again on a READY environment (one at a time); the result joins the history."""
    record = environments.benchmark(name, _caller(), request or BenchmarkRequest())
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=_view(record))


@app.get("/environments/<name>/token", responses={200: {"description": "the token"}, **_errors(404, 409)})
def get_token(name: Name) -> Token:
    """The notebook's JupyterLab token (each read is logged with its caller)."""
    return Token(token=environments.token(name, _caller()))


# The workload of a series (what a model is asked to do); the defaults are the harness's
BatchSize = Annotated[int, Query(alias="batchSize", ge=1, le=10**12)]
SequenceLength = Annotated[int, Query(alias="sequenceLength", ge=1, le=10**12)]
Dtype = Annotated[str, Query(min_length=1, max_length=200)]
Parallelism = Annotated[int, Query(ge=1, le=10**12, description="NeuronCores per model copy")]
RunId = Annotated[str, Path(pattern=RUN_ID_PATTERN, max_length=128)]


@app.get("/benchmarks", responses={200: {"description": "a page of runs"}, **_errors()})
def benchmark_history(
    model: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    instance_type: Annotated[str | None, Query(alias="instanceType", pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$",
                                               max_length=64)] = None,
    backend: Annotated[Backend | None, Query()] = None,
    batch_size: BatchSize = 1, sequence_length: SequenceLength = 128, dtype: Dtype = "float32",
    parallelism: Parallelism = 1, scenario: Annotated[Scenario, Query()] = "latency",
    environment: Annotated[str | None, Query(pattern=ENVIRONMENT_NAME_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    next_token: Annotated[str | None, Query(alias="nextToken", min_length=1, max_length=4096)] = None,
) -> BenchmarkPage:
    """Benchmark history, newest first: one series (model, instanceType and backend, with the workload: batchSize,
    sequenceLength, dtype, parallelism, scenario, each defaulting to the harness's), a model, an environment, or
    all."""
    workload = Workload(batch_size=batch_size, sequence_length=sequence_length, dtype=dtype,
                        parallelism=parallelism, scenario=scenario)
    items, token = environments.history(model=model, instance_type=instance_type, backend=backend,
                                        environment=environment, limit=limit, workload=workload,
                                        next_token=next_token)
    return BenchmarkPage(benchmarks=items, next_token=token)


@app.get("/benchmarks/runs/<run_id>", responses={200: {"description": "the run"}, **_errors(404)})
def benchmark_run(run_id: RunId) -> dict[str, Any]:
    """One stored run by its run id, as the history keeps it (histograms included)."""
    return history.run(run_id)


@app.get("/benchmarks/runs/<run_id>/compare",
         responses={200: {"description": "the other run against this one"}, **_errors(404)})
def compare_runs(run_id: RunId, to: Annotated[str, Query(pattern=RUN_ID_PATTERN, max_length=128,
                                                         description="the other run's id")]) -> RunComparison:
    """Run `to` against this run, per configuration both measured: throughput, p50 and p99 with their ratio (to /
    this), a Mann-Whitney verdict on the two latency distributions, and what differs in where they ran. One
    document (a run has at most 65 configurations): not paged."""
    return RunComparison.model_validate(history.compare_runs(run_id, to))


@app.post("/benchmarks", responses={201: {"description": "recorded, with its verdict and the changes it confirms"},
                                    **_errors(404, 409)})
def import_benchmark(run: Annotated[BenchmarkResult, Body()]) -> Response[ImportedRun]:
    """Import a result in the harness's schema (a run made by hand, on another machine, or before this deployment):
    judged like a workflow's run; an environment it names must be yours. An admin's import joins the shared
    history; anyone else's is kept in their own series and changes nothing others see or are judged against."""
    caller = _caller()
    stored = history.import_run(run, len((app.current_event.body or "").encode()), caller,
                                lambda name: environments.owned(name, caller, "import a run into"),
                                admin=environments.is_admin(caller))
    body = ImportedRun(series=stored.series, run_key=stored.run_key, verdict=stored.verdict,
                       confirmed=stored.confirmed)
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=body)


@app.get("/benchmarks/compare", responses={200: {"description": "the model on each instance type"}, **_errors()})
def compare_instance_types(
    model: Annotated[str, Query(min_length=1, max_length=200)],
    batch_size: BatchSize = 1, sequence_length: SequenceLength = 128, dtype: Dtype = "float32",
    parallelism: Parallelism = 1, scenario: Annotated[Scenario, Query()] = "latency",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    next_token: Annotated[str | None, Query(alias="nextToken", min_length=1, max_length=4096)] = None,
) -> Comparison:
    """A model doing one workload (batchSize, sequenceLength, dtype, parallelism, scenario; the harness's defaults
    fill what is not named) on every instance type and backend it ran on, cheapest per million inferences first:
    each one's current level (the medians since its last confirmed change), spread and number of runs. Pages
    follow instance-type order; one page holds them all unless more than `limit` ran it."""
    workload = Workload(batch_size=batch_size, sequence_length=sequence_length, dtype=dtype,
                        parallelism=parallelism, scenario=scenario)
    items, token = history.comparison(model, workload, limit, next_token)
    return Comparison(model=model, workload=workload, configurations=items, next_token=token)


@app.get("/benchmarks/regressions", responses={200: {"description": "a page of confirmed regressions"}, **_errors()})
def benchmark_regressions(
    since: Annotated[str, Query(pattern=r"^[1-9][0-9]{0,3}[dh]$",
                                description="how far back: days (30d) or hours (12h)")] = "30d",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    next_token: Annotated[str | None, Query(alias="nextToken", min_length=1, max_length=4096)] = None,
) -> RegressionPage:
    """Confirmed regressions (a lasting change for the worse in throughput, p50 or p99), newest first: each names
    its first bad run, the run that confirmed it, and what changed in the run's fingerprint."""
    unit = timedelta(days=1) if since.endswith("d") else timedelta(hours=1)
    items, token = environments.regressions(datetime.now(UTC) - int(since[:-1]) * unit, limit, next_token)
    return RegressionPage(regressions=items, next_token=token)


@app.get("/openapi.json", include_in_schema=False)
def openapi() -> dict[str, Any]:
    return openapi_document()


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """This API's OpenAPI document, generated from the routes and models above (docs/openapi.json).
    Invalid input is a 400 in our error shape and a response that breaks its model is a bug, not part of the
    contract, so the resolver's generic 422 and 500 entries are dropped."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey  # ~100 ms: not on every cold start

    document = json.loads(app.get_openapi_json_schema(
        title="NeuronLab API", version="1", summary="JupyterLab with the AWS Neuron SDK, benchmarked, on demand",
        security_schemes={"sigv4": APIKey.model_validate({
            "in": "header", "name": "Authorization",
            "description": "AWS SigV4 (service execute-api): API Gateway's AWS_IAM auth"})},
        security=[{"sigv4": []}],
    ))
    for operations in document["paths"].values():
        for operation in operations.values():
            operation["responses"].pop("422", None)
            operation["responses"].pop("500", None)
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        document["components"]["schemas"].pop(unused, None)
    return document


MAX_JSON_DEPTH = 64  # the deepest body a route takes is a benchmark import: under 10 levels


def _json_depth(text: str) -> int:
    """How deep arrays and objects nest in `text` (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _unreadable_body(event: dict[str, Any]) -> dict[str, Any] | None:
    """A body this API will not read, answered as a 400 before the resolver parses it: one larger than any route
    takes, one of another Content-Type, or JSON nested deep enough to exhaust the parser (a 502 otherwise)."""
    body = event.get("body")
    if not body:
        return None
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    media_type = str(headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    size = len(body.encode())
    if size > history.MAX_IMPORT_BYTES:  # the largest body a route takes: measured before anything parses it
        message = f"body: {size} bytes; a request body (an imported result included) is at most " \
                  f"{history.MAX_IMPORT_BYTES}"
    elif media_type != "application/json" and not media_type.endswith("+json"):
        message = f"Content-Type: {media_type} is not accepted; send the body as application/json"
    elif (body.count("[") + body.count("{") > MAX_JSON_DEPTH) and _json_depth(body) > MAX_JSON_DEPTH:
        message = f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels"
    else:
        return None
    return {"statusCode": 400, "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": ErrorBody(message=message).model_dump_json(exclude_none=True), "isBase64Encoded": False}


@lambda_entry("environments_table", "benchmarks_table", "idempotency_table", "state_machine_arn",
              "environment_stack_role_arn")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    identity = (event.get("requestContext") or {}).get("identity") or {}
    logger.append_keys(path=event.get("path"), caller=identity.get("userArn"))
    began = time.perf_counter()
    status = 502  # what API Gateway answers when the function fails
    try:
        response = _unreadable_body(event) or app.resolve(event, context)
        status = response["statusCode"]
        return response
    finally:
        # the access log: one line per request, whatever happened (see template.yaml, CKV_AWS_76)
        logger.info("request", extra={"method": event.get("httpMethod"), "status": status,
                                      "sourceIp": identity.get("sourceIp"),
                                      "ms": round((time.perf_counter() - began) * 1000, 1)})
