"""What the API does: start an environment, read environments and benchmark history."""

from __future__ import annotations

import ipaddress
import time
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from neuronlab_core import ceilings, instance_types
from neuronlab_core.benchmark import Workload, series_key

from orchestrator.adapters import secrets, stepfunctions
from orchestrator.adapters.dynamodb import BenchmarkStore
from orchestrator.domain.provisioning import (
    benchmark_run,
    environment_store,
    execution_running,
    names_for,
    now_iso,
    workflow_timeouts,
)
from orchestrator.domain.transitions import ALLOWED_FROM
from orchestrator.errors import EnvironmentConflict, InvalidRequest, LimitExceeded, NotOwner, WorkflowNotStarted
from orchestrator.models.environment import BenchmarkRequest, StartRequest
from orchestrator.models.images import ECR_IMAGE
from orchestrator.models.record import EnvironmentRecord, IdlePolicySettings, to_item
from orchestrator.models.states import EnvironmentState
from orchestrator.models.workflow import BenchmarkSpec, ResolvedImage, Waits, WorkflowState
from orchestrator.observability import logger
from orchestrator.settings import settings

# Fields only the workflow needs; never returned by the API.
_PRIVATE = ("benchmarkTaskToken",)


def public(record: EnvironmentRecord) -> dict[str, Any]:
    """The record as the API shows it (models.environment.Environment validates it)."""
    return {k: v for k, v in to_item(record).items() if k not in _PRIVATE}


def is_admin(caller: str) -> bool:
    """AdminPrincipals: ARN patterns (fnmatch, e.g. arn:aws:sts::111122223333:assumed-role/Admin/*)."""
    return any(fnmatchcase(caller, pattern) for pattern in settings().admin_principals.split(",") if pattern)


def _may_act(record: EnvironmentRecord, caller: str) -> bool:
    return record.owner == caller or is_admin(caller)


def owned(name: str, caller: str, action: str) -> EnvironmentRecord:
    """The record, if the caller owns it or is an admin; NotOwner (a 403 naming the owner) otherwise."""
    record = environment_store().get(name)
    if not _may_act(record, caller):
        owner = record.owner or "nobody (it predates owners)"
        raise NotOwner(f"environment {name!r} belongs to {owner}; only its owner or an admin may {action} it")
    return record


def _caller_cidr(source_ip: str | None) -> list[str]:
    """The default allow-list: the caller's own address."""
    if not source_ip:
        raise InvalidRequest("allowCidrs: required when the caller's address is unknown")
    if ipaddress.ip_address(source_ip).version != 4:
        raise InvalidRequest(f"allowCidrs: required because your address {source_ip} is IPv6; the notebook is "
                             "served over IPv4: give your IPv4 address as a CIDR (for example 203.0.113.7/32)")
    return [f"{source_ip}/32"]


# What a running environment bills for: counted against MaxRunningEnvironments.
RUNNING = {EnvironmentState.PROVISIONING, EnvironmentState.READY, EnvironmentState.STOPPING}


def _within_account_ceilings(request: StartRequest, caller: str, records: list[EnvironmentRecord]) -> None:
    """A start that would create stacks past an AWS ceiling (neuronlab_core.ceilings) is refused before anything is
    created: the first start past one would fail minutes in, halfway through its stacks."""
    holding = [r for r in records if ceilings.holds_stacks(r.state, r.stack_name)]
    if any(r.name == request.name for r in holding) or len(holding) < ceilings.BINDING.environments:
        return  # a warm start takes nothing more
    yours = sorted(r.name for r in holding if r.owner == caller and r.state not in RUNNING)
    advice = (f"delete one you no longer need (neuronlab delete NAME; its /home is kept): {', '.join(yours)}" if yours
              else "ask an admin to delete stopped environments (neuronlab list)")
    raise LimitExceeded(f"{len(holding)} environments hold their stacks, the most this account allows: "
                        f"{ceilings.BINDING.describe()}; {advice}")


def _within_limits(request: StartRequest, caller: str) -> None:
    """The deployment's limits; a request beyond one is refused naming it (a 403, before anything is created)."""
    config = settings()
    allowed = [t for t in config.allowed_instance_types.split(",") if t]
    if allowed and request.instance_type not in allowed:
        raise LimitExceeded(f"instanceType: {request.instance_type} is not allowed in this deployment "
                            f"(AllowedInstanceTypes: {', '.join(allowed)})")
    if request.benchmark and request.benchmark_seconds > config.max_benchmark_seconds:
        raise LimitExceeded(f"benchmarkSeconds: {request.benchmark_seconds} is over this deployment's "
                            f"MaxBenchmarkSeconds ({config.max_benchmark_seconds})")
    records = environment_store().list()
    _within_account_ceilings(request, caller, records)
    others = [r for r in records if r.state in RUNNING and r.name != request.name]
    yours = sorted(r.name for r in others if r.owner == caller)
    if len(yours) >= config.max_environments_per_caller:
        raise LimitExceeded(f"you have {len(yours)} environments running ({', '.join(yours)}); this deployment's "
                            f"MaxEnvironmentsPerCaller is {config.max_environments_per_caller}: stop one first")
    if len(others) >= config.max_running_environments:
        raise LimitExceeded(f"{len(others)} environments are running; this deployment's MaxRunningEnvironments is "
                            f"{config.max_running_environments}: stop one first")


def start(request: StartRequest, caller: str, source_ip: str | None,
          account: str | None = None) -> EnvironmentRecord:
    """Record the environment as PROVISIONING and start the workflow (cold or warm start). A new name becomes
    the caller's; a known one starts again only for its owner or an admin."""
    config = settings()
    instance_types.lookup(request.instance_type)
    existing = environment_store().find(request.name)
    if existing is not None and not _may_act(existing, caller):
        raise EnvironmentConflict(f"environment name {request.name!r} is in use by "
                                  f"{existing.owner or 'an environment without an owner'}; choose another name")
    _within_limits(request, caller)
    image = request.image or config.default_image
    if not image:
        raise InvalidRequest("image: required (no default image is configured for this deployment)")
    image_account = (ECR_IMAGE.match(image) or {"account": None})["account"]
    if request.image and account and image_account != account:
        raise InvalidRequest(f"image: {image} is in account {image_account}'s ECR; this deployment runs images "
                             f"from its own account's ({account}) ECR")
    cidrs = request.allow_cidrs or _caller_cidr(source_ip)

    store = environment_store()
    stamp = now_iso()
    policy = IdlePolicySettings(idle_minutes=request.idle_minutes, grace_minutes=request.grace_minutes,
                                max_lifetime_hours=request.max_lifetime_hours, warning_minutes=request.warning_minutes)
    fields = {"state": EnvironmentState.PROVISIONING, "instanceType": request.instance_type, "image": image,
              "allowCidrs": cidrs, "warmPool": request.warm_pool, "idlePolicy": policy, "updatedAt": stamp}
    if existing is None:
        store.create(EnvironmentRecord(
            name=request.name, owner=caller, created_at=stamp, updated_by=caller, state=EnvironmentState.PROVISIONING,
            instance_type=request.instance_type, image=image, allow_cidrs=cidrs, warm_pool=request.warm_pool,
            idle_policy=policy, updated_at=stamp))
    elif existing.state in ALLOWED_FROM["start"]:
        store.transition(request.name, ALLOWED_FROM["start"], fields, remove=("failureReason",), by=caller)
    else:
        raise EnvironmentConflict(f"environment {request.name!r} is {existing.state}; it can start only when "
                                  f"{' or '.join(sorted(ALLOWED_FROM['start']))}", existing.state)

    payload = WorkflowState(
        name=request.name, instance_type=request.instance_type, image=image, allow_cidrs=cidrs,
        warm_pool=request.warm_pool,
        benchmark=BenchmarkSpec(enabled=request.benchmark, model=request.benchmark_model,
                                seconds=request.benchmark_seconds, gate=request.benchmark_gate),
        # The state machine reads its polling cadence and deadlines from its input.
        waits=Waits(stack_seconds=config.stack_poll_seconds, notebook_seconds=config.notebook_poll_seconds),
        timeouts=workflow_timeouts(),
    )
    try:
        execution_arn = stepfunctions.start(config.state_machine_arn, f"{request.name}-{int(time.time()*1000)}",
                                            payload)
    except Exception as error:
        # Never leave a PROVISIONING record that nothing is working on.
        reason = f"workflow did not start: {error}"
        store.transition(request.name, {EnvironmentState.PROVISIONING},
                         {"state": EnvironmentState.FAILED, "failureReason": reason, "updatedAt": now_iso()})
        raise WorkflowNotStarted(reason) from error
    return store.transition(request.name, {EnvironmentState.PROVISIONING},
                            {"executionArn": execution_arn, "updatedAt": now_iso()})


def benchmark(name: str, caller: str, request: BenchmarkRequest) -> EnvironmentRecord:
    """Run the benchmark on a READY environment, through the provisioning workflow's benchmark branch (the same
    task token, heartbeat, early failure and StoreMetrics). One at a time: a second is a 409 naming the first.
    The environment stays READY whatever the benchmark does; while it runs it counts as activity."""
    config = settings()
    record = owned(name, caller, "benchmark")
    if request.seconds > config.max_benchmark_seconds:
        raise LimitExceeded(f"seconds: {request.seconds} is over this deployment's MaxBenchmarkSeconds "
                            f"({config.max_benchmark_seconds})")
    if record.state != EnvironmentState.READY:
        raise EnvironmentConflict(f"environment {name!r} is {record.state}; a benchmark runs on a READY one",
                                  record.state)
    claim = record.benchmark_run
    held = claim.execution_arn if claim else None
    # an on-demand run (or its claim), or the start's own benchmark
    for execution, claimed_at in ((held, claim.started_at if claim else None), (record.execution_arn, None)):
        if execution_running(execution, claimed_at):
            raise EnvironmentConflict(f"environment {name!r} has a benchmark running ({execution}); wait for it "
                                      f"(neuronlab status {name})")
    model = request.model or (record.last_benchmark.model if record.last_benchmark else "random:bert-base")
    execution_name = f"{name}-bench-{int(time.time() * 1000)}"
    execution_arn = config.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{execution_name}"
    run = benchmark_run(execution_arn, model, request.seconds, config.benchmark_timeout_seconds,
                        scenario=request.scenario, by=caller)
    store = environment_store()
    store.claim_benchmark(name, run, replacing=held)
    payload = WorkflowState(
        mode="benchmark", name=name, instance_type=record.instance_type or "",
        image=ResolvedImage(digest=record.image_digest or ""),
        benchmark=BenchmarkSpec(model=model, seconds=request.seconds, scenario=request.scenario),
        timeouts=workflow_timeouts(),
    )
    try:
        stepfunctions.start(config.state_machine_arn, execution_name, payload)
    except Exception as error:
        store.transition(name, {EnvironmentState.READY}, {"updatedAt": now_iso()}, remove=("benchmarkRun",))
        raise WorkflowNotStarted(f"benchmark workflow did not start: {error}") from error
    logger.info("benchmark started", extra={"environment": name, "caller": caller, "execution": execution_arn})
    return store.get(name)


def list_for(caller: str) -> list[EnvironmentRecord]:
    """The caller's environments; every environment for an admin."""
    return [r for r in environment_store().list() if _may_act(r, caller)]


def token(name: str, caller: str) -> str:
    """The notebook's token, read from the secret named after the environment (never from an ARN on a record);
    every read is logged with its caller."""
    record = owned(name, caller, "read the token of")
    if record.state in (EnvironmentState.DELETING, EnvironmentState.DELETED) or not record.token_secret_arn:
        raise EnvironmentConflict(f"environment {name!r} has no token ({record.state})", record.state)
    logger.info("token read", extra={"environment": name, "caller": caller})
    return secrets.read(names_for(name).token_secret)


def history(model: str | None, instance_type: str | None, backend: str | None, environment: str | None,
            limit: int, workload: Workload, next_token: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """One listing, each a Query that reads only what it returns: a series (model, instanceType and backend, and
    the workload: the harness's defaults where not named), a model, an environment, or every run."""
    store = BenchmarkStore(settings().benchmarks_table)
    named = workload != Workload()  # a workload other than the defaults narrows a series only
    if environment:
        if model or instance_type or backend or named:
            raise InvalidRequest("environment: lists an environment's runs alone; leave out model, instanceType, "
                                 "backend and the workload")
        return store.query(environment=environment, limit=limit, next_token=next_token)
    if model and instance_type and backend:
        return store.query(series=series_key(model, instance_type, backend, workload), limit=limit,
                           next_token=next_token)
    if instance_type or backend or named:
        raise InvalidRequest("instanceType, backend, workload: narrow a model's history to one series, so give "
                             "model, instanceType and backend together (or model alone)")
    return store.query(model=model, limit=limit, next_token=next_token)


def regressions(since: datetime, limit: int, next_token: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """Confirmed regressions whose first bad run started at or after `since`, newest first."""
    return BenchmarkStore(settings().benchmarks_table).regressions(since.isoformat(), limit, next_token)
