"""The provisioning workflow's steps as plain functions (one per state machine Task)."""

from __future__ import annotations

import contextlib
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from neuronlab_core import instance_types

from orchestrator.adapters import capacity, cloudformation, ec2, ecr, ecs, elbv2, events, s3, secrets, stepfunctions
from orchestrator.adapters.dynamodb import EnvironmentStore
from orchestrator.domain import history, placement
from orchestrator.domain.benchmarks import INCORRECT
from orchestrator.domain.names import EnvironmentNames
from orchestrator.domain.transitions import ALLOWED_FROM
from orchestrator.errors import (
    BenchmarkFailed,
    EnvironmentConflict,
    InvalidWorkflowState,
    NotebookUnhealthy,
    StackFailed,
    StackTimeout,
)
from orchestrator.models.record import BenchmarkFailureNote, BenchmarkRun, EnvironmentRecord, LastBenchmark, Placement
from orchestrator.models.states import EnvironmentState
from orchestrator.models.workflow import (
    BenchmarkFailure,
    CaughtError,
    Failed,
    NotebookCheck,
    Ready,
    ResolvedImage,
    StackProgress,
    StartedTask,
    Stored,
    Timeouts,
    WorkflowState,
)
from orchestrator.settings import settings

NESTED_DIR = Path(__file__).resolve().parents[1] / "nested"
PARENT_TEMPLATE = "environment.yml"
CHILD_TEMPLATES = {"CapacityTemplateUrl": "capacity.yml", "NotebookTemplateUrl": "notebook.yml"}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def names_for(name: str) -> EnvironmentNames:
    return EnvironmentNames(name, settings().stack_prefix)


def environment_store() -> EnvironmentStore:
    return EnvironmentStore(settings().environments_table)


def check_image(image: str) -> ResolvedImage:
    resolved = ecr.resolve(image)
    return ResolvedImage(uri=resolved.uri, digest=resolved.digest, pinned_uri=resolved.pinned_uri)


def shared_network() -> dict[str, str]:
    """Outputs of the orchestrator's shared network stack (nested/shared.yml)."""
    outputs = cloudformation.describe(settings().shared_network_stack).outputs
    if not outputs:
        raise StackFailed(f"shared network stack {settings().shared_network_stack!r} has no outputs")
    return outputs


def deploy_stacks(request: WorkflowState) -> StackProgress:
    """Create the environment's stack, or update it when it exists (warm start)."""
    name = request.name
    names = names_for(name)
    instance = instance_types.lookup(request.instance_type)
    config = settings()
    store = environment_store()
    record = store.get(name)
    if record.state != EnvironmentState.PROVISIONING:  # stopped or deleted meanwhile: create nothing
        raise EnvironmentConflict(f"environment {name!r} is {record.state}; expected PROVISIONING", record.state)
    shared = shared_network()
    subnet_zones = ec2.subnet_zones(shared["InstanceSubnetIds"].split(","))
    chosen = placement.choose(instance.name, subnet_zones, ec2.offered_zones(instance.name))
    priority = int(record.listener_priority or placement.rule_priority(
        name, elbv2.used_priorities(shared["ListenerArn"])))
    secret_arn = secrets.ensure_token_secret(names.token_secret, name)
    urls = {param: s3.upload_by_hash(config.artifact_bucket, NESTED_DIR / file)
            for param, file in CHILD_TEMPLATES.items()}
    parent_url = s3.upload_by_hash(config.artifact_bucket, NESTED_DIR / PARENT_TEMPLATE)
    parameters = {
        **urls,
        "EnvironmentName": name,
        "InstanceType": instance.name,
        "ImageUri": request.resolved.pinned_uri,
        "AllowCidrs": ",".join(request.allow_cidrs),
        "TokenSecretArn": secret_arn,
        "ActivityTableName": config.activity_table,
        "PermissionsBoundaryArn": config.role_boundary_arn,
        "TaskCpu": str(instance.task_cpu),
        "TaskMemory": str(instance.task_memory_mib),
        "NeuronDevices": str(instance.neuron_devices),
        "DesiredCapacity": "1",
        "WarmPool": "stopped" if request.warm_pool else "none",
        "VpcId": shared["VpcId"],
        "InstanceSubnetIds": ",".join(chosen.subnets),
        "PrivateSubnetIds": shared["PrivateSubnetIds"],
        "InstanceSecurityGroupId": shared["InstanceSecurityGroupId"],
        "FileSystemSecurityGroupId": shared["FileSystemSecurityGroupId"],
        "ListenerArn": shared["ListenerArn"],
        "ListenerPriority": str(priority),
        "LoadBalancerDnsName": shared["LoadBalancerDnsName"],
        "VpcOriginId": shared["VpcOriginId"],
        "CustomDomain": config.custom_domain,
        "CertificateArn": config.certificate_arn,
    }
    operation = cloudformation.deploy(names.stack, parent_url, parameters, tags={"neuronlab:environment": name},
                                       role_arn=config.environment_stack_role_arn)
    if operation != "CREATE":  # warm start: the stack exists; a stop scaled it to zero outside CloudFormation
        capacity.scale_up(names.auto_scaling_group, names.cluster, names.service)
    store.transition(
        name, {EnvironmentState.PROVISIONING},
        {"stackName": names.stack, "tokenSecretArn": secret_arn, "imageDigest": request.resolved.digest,
         "listenerPriority": priority,
         "placement": Placement(subnet_zones={s: subnet_zones[s] for s in chosen.subnets}, since=now_iso()),
         "updatedAt": now_iso()},
    )
    return StackProgress(name=names.stack, operation=operation,
                         deadline=time.time() + request.timeouts.stack_seconds)


def _stack_of(request: WorkflowState) -> StackProgress:
    if request.stack is None:
        raise InvalidWorkflowState("the state has no stack: DeployStacks runs first")
    return request.stack


def check_stack(request: WorkflowState) -> StackProgress:
    stack = _stack_of(request)
    state = cloudformation.describe(stack.name)
    if state.settled and state.succeeded:
        return msgspec.structs.replace(stack, complete=True, status=state.status, outputs=state.outputs,
                                       notebook_deadline=time.time() + request.timeouts.notebook_seconds)
    if state.status is None:
        raise StackFailed(f"stack {stack.name} no longer exists")
    if state.settled:
        raise StackFailed(f"stack {stack.name} is {state.status}: {cloudformation.failure_reason(stack.name)}")
    # CloudFormation creates the ECS service only once its task runs: a launch failing for capacity shows here
    moved = _retry_elsewhere_after_capacity_failure(request, environment_store().get(request.name))
    if time.time() > stack.deadline:
        raise StackTimeout(f"stack {stack.name} still {state.status} after {request.timeouts.stack_seconds} s")
    return msgspec.structs.replace(stack, status=state.status, placement=moved or stack.placement)


def check_notebook(request: WorkflowState) -> NotebookCheck:
    """Healthy when the service runs its task and the load balancer's health check passes on it.

    Judged from inside AWS: this function runs outside the VPC, so a request through the notebook's URL
    would come from an AWS address and be refused by the viewer allow-list (the CloudFront function).
    The target group checks /NAME/api/status on the task itself (nested/notebook.yml).
    """
    names = names_for(request.name)
    stack = _stack_of(request)
    url = stack.outputs["NotebookUrl"]
    service = ecs.service_state(names.cluster, names.service)
    if service.running >= 1:
        states = elbv2.target_health(stack.outputs["TargetGroupArn"])
        detail = (f"service running {service.running}/{service.desired}, "
                  f"load balancer targets: {', '.join(states) or 'none registered yet'}")
        if "healthy" in states:
            return NotebookCheck(healthy=True, url=url, detail=detail)
    else:
        detail = f"service running {service.running}/{service.desired}: no notebook task yet"
        moved = _retry_elsewhere_after_capacity_failure(request, environment_store().get(request.name))
        if moved:
            detail += f"; {moved}"
    if time.time() > (stack.notebook_deadline or 0):
        raise NotebookUnhealthy(f"notebook not healthy after {request.timeouts.notebook_seconds} s: {detail}")
    return NotebookCheck(healthy=False, url=url, detail=detail)


def _retry_elsewhere_after_capacity_failure(request: WorkflowState, record: EnvironmentRecord) -> str:
    """When EC2 had no capacity in an AZ, launch only in the other AZs that offer the type.
    Raises CapacityUnavailable when none is left."""
    state = record.placement
    if state is None or not state.subnet_zones:
        return ""
    names = names_for(request.name)
    since = datetime.fromisoformat(state.since)
    activities = [a for a in capacity.recent_activities(names.auto_scaling_group) if a["StartTime"] >= since]
    excluded = set(state.excluded)
    failed = placement.capacity_failures(activities) - excluded
    if not failed:
        return ""
    excluded |= failed
    chosen = placement.choose(request.instance_type, state.subnet_zones, set(state.subnet_zones.values()), excluded)
    capacity.use_subnets(names.auto_scaling_group, chosen.subnets)
    environment_store().transition(request.name, {EnvironmentState.PROVISIONING}, {
        "placement": msgspec.structs.replace(state, excluded=sorted(excluded)), "updatedAt": now_iso()})
    return f"no capacity in {', '.join(sorted(failed))}: retrying in {', '.join(chosen.zones)}"


def mark_ready(name: str, url: str) -> Ready:
    record = environment_store().transition(
        name, ALLOWED_FROM["ready"],
        {"state": EnvironmentState.READY, "url": url, "readyAt": now_iso(), "updatedAt": now_iso()},
        remove=("failureReason", "idleWarningAt", "unreachableCount"),
    )
    return Ready(state=record.state, url=record.url or url)


def workflow_timeouts() -> Timeouts:
    """The deadlines the state machine reads from its input (LocalCloud deploys with short polls)."""
    config = settings()
    return Timeouts(stack_seconds=config.stack_timeout_seconds, notebook_seconds=config.notebook_timeout_seconds,
                    benchmark_seconds=config.benchmark_timeout_seconds,
                    benchmark_heartbeat_seconds=config.benchmark_heartbeat_seconds)


def benchmark_run(execution_arn: str | None, model: str, seconds: int, timeout_seconds: int,
                  scenario: str | None = None, by: str | None = None) -> BenchmarkRun:
    """The record's `benchmarkRun`: the one benchmark an environment runs. The idle sweep counts it as activity
    until it ends (StoreMetrics or RecordBenchmarkFailure remove it), or until the workflow's own deadline."""
    started = datetime.now(UTC)
    return BenchmarkRun(execution_arn=execution_arn, model=model, seconds=seconds, scenario=scenario, by=by,
                        started_at=started.isoformat(timespec="milliseconds"),
                        deadline=(started + timedelta(seconds=timeout_seconds)).isoformat())


# The API that claims a benchmark starts its workflow right after: a claim this young whose execution does not
# exist yet still holds the slot; an older one is what a failed StartExecution left behind.
CLAIM_GRACE = timedelta(minutes=1)


def execution_running(execution_arn: str | None, claimed_at: str | None = None) -> bool:
    """Whether the execution behind a benchmark (or its claim, made at `claimed_at`) still runs."""
    if not execution_arn:
        return False
    status = stepfunctions.status(execution_arn)
    fresh = claimed_at is not None and datetime.now(UTC) - datetime.fromisoformat(claimed_at) < CLAIM_GRACE
    return status == "RUNNING" or (status == "MISSING" and fresh)


def run_benchmark(request: WorkflowState, task_token: str, execution: str = "") -> StartedTask:
    """Start the benchmark task; it reports with SendTaskSuccess/Failure using the token.

    Exactly one task per execution: the execution's name is RunTask's client token (ECS returns the first task
    for a repeated token, e.g. an SDK retry after a lost response), and the workflow does not retry this step."""
    name = request.name
    names = names_for(name)
    spec = request.benchmark
    command = ["python", "-m", "neuronbench", "run", "--model", spec.model, "--backend", "auto",
               "--duration", str(spec.seconds), "--scenario", spec.scenario,
               "--instance-type", request.instance_type, "--environment", name,
               "--image-digest", request.resolved.digest, "--json"]
    task_arn = ecs.run_benchmark_task(
        names.cluster, names.benchmark_family, names.capacity_provider, command,
        # The token goes in the environment, not on the command line (command lines are logged).
        environment={"NEURONLAB_TASK_TOKEN": task_token}, started_by=name, client_token=execution[-64:],
    )
    store = environment_store()
    changes: dict[str, Any] = {"benchmarkTaskArn": task_arn, "benchmarkTaskToken": task_token, "updatedAt": now_iso()}
    if request.mode != "benchmark":  # the start's benchmark holds the slot an on-demand run claims itself
        changes["benchmarkRun"] = benchmark_run(store.get(name).execution_arn, spec.model, spec.seconds,
                                                request.timeouts.benchmark_seconds)
    store.transition(name, ALLOWED_FROM["benchmark"], changes)
    return StartedTask(task_arn=task_arn)


def store_metrics(result: dict[str, Any], request: WorkflowState | None = None) -> Stored:
    """Validate the harness result and record it in the history (domain/history.py); the environment's record
    keeps its summary.

    The benchmark task can be altered from the notebook (its /home is the user's), so what the run was -
    which environment, instance type, model and image - comes from the execution (`request`), never from
    the result: a task cannot write another environment's record or series."""
    from neuronlab_core.benchmark import BenchmarkResult  # only this step needs it: not on every cold start

    parsed = BenchmarkResult.model_validate(result)
    if request is not None:
        record = environment_store().get(request.name)
        host = ecs.host_of_task(names_for(request.name).cluster, record.benchmark_task_arn or "")
        parsed = parsed.model_copy(update={
            "environment": request.name, "instance_type": request.instance_type,
            "model": request.benchmark.model, "image_digest": request.resolved.digest,
            "availability_zone": host.get("availability_zone"), "ami_id": host.get("ami_id"),
            "cost_per_million_usd": None})  # priced below from the execution's instance type
    stored = history.record(parsed)
    check = parsed.correctness
    if stored.verdict == INCORRECT and check is not None:  # recorded as a regression; the step fails as before
        raise BenchmarkFailed(f"outputs differ from the CPU reference: max |diff| {check.max_abs_diff:.3g} (tolerance "
                              f"{check.tolerance:.3g}), classes agree: {check.classes_agree}; run {parsed.run_id} "
                              "is in the history as a regression")
    if parsed.environment:
        summary = LastBenchmark(run_id=parsed.run_id, model=parsed.model, backend=parsed.backend,
                                throughput=parsed.throughput, verdict=stored.verdict, run_key=stored.run_key,
                                p50_ms=parsed.latency_ms.p50)
        environment_store().transition(
            parsed.environment, {EnvironmentState.READY},
            {"lastBenchmark": summary, "updatedAt": now_iso()},
            remove=("benchmarkTaskToken", "lastBenchmarkFailure", "benchmarkRun"),
        )
    return stored


def record_benchmark_failure(request: WorkflowState) -> BenchmarkFailure:
    """The benchmark failed, the notebook works: the environment stays READY with the failure on its record,
    and EventBridge gets BenchmarkFailed. (When the benchmark is a gate, the workflow marks it FAILED next.)
    An environment that moved on meanwhile (stopped, deleted) keeps its state; the event still goes out."""
    name, reason = request.name, failure_reason(request.error)
    store = environment_store()
    record = store.get(name)
    if record.benchmark_task_arn:  # a benchmark that timed out may still hold the Neuron devices
        ecs.stop_task(names_for(name).cluster, record.benchmark_task_arn, f"benchmark step failed: {reason}")
    if record.state == EnvironmentState.READY:
        store.transition(name, {EnvironmentState.READY},
                         {"lastBenchmarkFailure": BenchmarkFailureNote(reason=reason, at=now_iso()),
                          "updatedAt": now_iso()},
                         remove=("benchmarkTaskToken", "benchmarkRun"))
    gate = request.benchmark.gate
    events.publish("BenchmarkFailed", {"environment": name, "reason": reason, "gate": gate})
    return BenchmarkFailure(reason=reason, gate=gate)


def failure_reason(error: CaughtError | None) -> str:
    """Readable reason from a Catch's {Error, Cause}; Lambda causes are JSON with errorMessage."""
    if error is None:
        return "unknown failure"
    cause = error.cause
    with contextlib.suppress(ValueError, AttributeError):
        cause = json.loads(cause).get("errorMessage", cause)
    return f"{error.error}: {cause}" if cause else error.error


def mark_failed(name: str, error: CaughtError | None) -> Failed:
    """Record FAILED with the reason, then release the compute: nothing billed by the hour stays up after a
    failed start. Safe to retry (the workflow does): FAILED may be marked again, and releasing is idempotent.
    A stop or delete under way (or done) owns the environment: its compute is released, its record left alone."""
    store = environment_store()
    reason = failure_reason(error)
    state = store.get(name).state
    owned = state in _OWNED_BY_STOP_OR_DELETE
    if not owned:
        store.transition(name, ALLOWED_FROM["fail"],
                         {"state": EnvironmentState.FAILED, "failureReason": reason, "updatedAt": now_iso()},
                         remove=("benchmarkTaskToken",))
    names = names_for(name)
    had_group = capacity.scale_to_zero(names.auto_scaling_group, names.cluster, names.service, missing_ok=True)
    released = "service and instances scaled to zero" if had_group else "no instances had been launched"
    if not owned:
        store.transition(name, {EnvironmentState.FAILED}, {"capacity": released, "updatedAt": now_iso()})
    return Failed(state=state if owned else EnvironmentState.FAILED, reason=reason, capacity=released)


_OWNED_BY_STOP_OR_DELETE = {EnvironmentState.STOPPING, EnvironmentState.STOPPED, EnvironmentState.DELETING,
                            EnvironmentState.DELETED}


def benchmark_task_stopped(detail: dict[str, Any]) -> dict[str, Any]:
    """ECS said the benchmark task stopped: fail the waiting step now unless the task already reported."""
    name = detail.get("startedBy", "")
    record = environment_store().find(name)
    if not record or record.benchmark_task_arn != detail.get("taskArn") or not record.benchmark_task_token:
        return {"action": "ignored", "reason": "not a pending benchmark task"}
    containers = detail.get("containers") or [{}]
    exit_code = containers[0].get("exitCode")
    cause = (f"benchmark task {detail['taskArn']} stopped ({detail.get('stoppedReason') or 'no reason given'}, "
             f"exit code {exit_code}) without reporting a result")
    failed = stepfunctions.fail_task(record.benchmark_task_token, BenchmarkFailed.__name__, cause)
    return {"action": "failed" if failed else "already-settled", "reason": cause}
