"""Stopping environments: on request, and by the scheduled idle sweep."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from orchestrator.adapters import capacity, cloudformation, ecs, events, secrets, stepfunctions
from orchestrator.adapters.dynamodb import SYSTEM, activity_report
from orchestrator.domain import provisioning
from orchestrator.domain.idle import Decision, IdlePolicy, Signals, decide, signals_from_report
from orchestrator.domain.names import GROUP_PREFIX
from orchestrator.domain.provisioning import environment_store, names_for, now_iso
from orchestrator.domain.transitions import ALLOWED_FROM
from orchestrator.models.record import EnvironmentRecord, SweepDecision, to_item
from orchestrator.models.states import EnvironmentState
from orchestrator.models.workflow import CaughtError
from orchestrator.settings import settings

SWEEP_CONCURRENCY = 8
# The activity sidecar reports every minute; older than this, its report no longer counts.
REPORT_MAX_AGE = timedelta(minutes=3)
CLOCK_SKEW = timedelta(minutes=1)  # how far ahead of the sweep's clock a report's time may be and still count
# A stack delete (CloudFront distribution included) that has not finished by then is reported as failed.
DELETE_DEADLINE = timedelta(minutes=90)
# A deploy step already running at a delete may create the stack after it (its Lambda runs at most 5 minutes):
# the reconciler looks for such a stack this long after a delete, not on every sweep forever.
LATE_STACK_WINDOW = timedelta(hours=1)
# A stop whose function died between its writes is finished by the reconciler after this long.
STOP_DEADLINE = timedelta(minutes=10)
# What a deleted environment's record no longer needs.
_GONE = ("url", "tokenSecretArn", "listenerPriority", "placement", "idleWarningAt",
         "unreachableCount", "benchmarkTaskToken", "benchmarkTaskArn")


def _plain(data: Any) -> Any:
    """Evidence as JSON-able data (datetimes to ISO strings) for the record and events."""
    return json.loads(json.dumps(data, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)))


def _abort_start(record: EnvironmentRecord, why: str) -> None:
    """A start in flight (still provisioning, or running its benchmark) is aborted before anything else
    touches the environment, so its workflow cannot write after us (an aborted execution runs no Catch)."""
    if record.execution_arn and stepfunctions.status(record.execution_arn) == "RUNNING":
        stepfunctions.stop(record.execution_arn, why)


def stop(name: str, reason: str, evidence: dict[str, Any] | None = None,
         final: EnvironmentState = EnvironmentState.STOPPED, by: str = SYSTEM) -> EnvironmentRecord:
    """READY (or a start in flight, or a stop that died halfway) -> STOPPING -> STOPPED (or UNHEALTHY):
    nothing billed by the hour stays running. `by`: who asked (the API's caller, or NeuronLab itself)."""
    store = environment_store()
    _abort_start(store.get(name), f"stopped: {reason}")
    store.transition(name, ALLOWED_FROM["stop"], {"state": EnvironmentState.STOPPING, "updatedAt": now_iso()},
                     by=by)
    names = names_for(name)
    try:
        # a start aborted early may not have created the service or the group yet
        capacity.scale_to_zero(names.auto_scaling_group, names.cluster, names.service, missing_ok=True)
    except Exception as error:
        store.transition(name, ALLOWED_FROM["stopped"], {
            "state": EnvironmentState.FAILED, "failureReason": f"stop failed: {error}", "updatedAt": now_iso()},
            by=by)
        raise
    record = store.transition(name, ALLOWED_FROM["stopped"], {
        "state": final, "stopReason": reason, "stopEvidence": _plain(evidence or {}), "stoppedAt": now_iso(),
        "updatedAt": now_iso()}, remove=("url", "idleWarningAt", "unreachableCount", "benchmarkRun"), by=by)
    events.publish("EnvironmentStopped", {"environment": name, "state": final, "reason": reason})
    return record


def delete(name: str, by: str = SYSTEM) -> EnvironmentRecord:
    """Tear the environment down: its group force-deleted (protected instances included), then its stack.
    /home (EFS) is retained by the template and its id kept on the record; the token is deleted."""
    store = environment_store()
    _abort_start(store.get(name), "deleted")
    store.transition(name, ALLOWED_FROM["delete"], {"state": EnvironmentState.DELETING,
                                                    "deleteRequestedAt": now_iso(), "updatedAt": now_iso()}, by=by)
    names = names_for(name)
    try:
        home = cloudformation.describe(names.stack).outputs.get("FileSystemId")
        capacity.force_delete(names.auto_scaling_group, names.cluster, names.service)
        cloudformation.delete(names.stack, settings().environment_stack_role_arn)
    except Exception as error:
        store.transition(name, {EnvironmentState.DELETING}, {
            "state": EnvironmentState.FAILED, "failureReason": f"delete failed: {error}", "updatedAt": now_iso()},
            by=by)
        raise
    if home:
        store.transition(name, {EnvironmentState.DELETING}, {"retainedFileSystemId": home})
    return settle_deletion(store.get(name))


def settle_deletion(record: EnvironmentRecord, now: datetime | None = None) -> EnvironmentRecord:
    """DELETING -> DELETED once the stack is gone, FAILED when the delete failed or overran its deadline."""
    now = now or datetime.now(UTC)
    name, store = record.name, environment_store()
    stack = names_for(name).stack
    status = cloudformation.describe(stack).status
    if status in (None, "DELETE_COMPLETE"):
        if record.token_secret_arn:
            secrets.delete(names_for(name).token_secret)  # by the name derived here, not an ARN from a record
        deleted = store.transition(name, ALLOWED_FROM["deleted"], {
            "state": EnvironmentState.DELETED, "deletedAt": now.isoformat(), "updatedAt": now.isoformat()},
            remove=_GONE)
        events.publish("EnvironmentDeleted", {"environment": name})
        return deleted
    if status == "DELETE_FAILED":
        reason = f"delete failed: {cloudformation.failure_reason(stack)}"
    elif now - datetime.fromisoformat(record.delete_requested_at or now.isoformat()) > DELETE_DEADLINE:
        reason = f"delete failed: stack {stack} still {status} after {DELETE_DEADLINE}"
    else:
        return record
    return store.transition(name, {EnvironmentState.DELETING}, {
        "state": EnvironmentState.FAILED, "failureReason": reason, "updatedAt": now.isoformat()})


def _counts(report: dict[str, Any], now: datetime, ready_since: datetime) -> bool:
    """A report counts when it is recent and from this run (a stopped task's last report does not). The notebook
    task writes it, so a time that is malformed, without a zone or in the future is no report: it never keeps an
    environment running, nor stops the sweep from judging it."""
    try:
        reported_at = datetime.fromisoformat(str(report.get("reportedAt")))
    except ValueError:
        return False
    if reported_at.tzinfo is None:
        return False
    return ready_since <= reported_at <= now + CLOCK_SKEW and now - reported_at <= REPORT_MAX_AGE


def _policy(record: EnvironmentRecord) -> IdlePolicy:
    asked = msgspec.structs.asdict(record.idle_policy) if record.idle_policy else {}
    policy = IdlePolicy(**{k: v for k, v in asked.items() if v is not None})
    # never warn earlier than the idle limit itself
    return replace(policy, warning_minutes=min(policy.warning_minutes, policy.idle_minutes))


def judge(record: EnvironmentRecord, now: datetime) -> SweepDecision:
    """Observe one READY environment, decide, act, and keep the decision with its evidence."""
    name = record.name
    ready_since = datetime.fromisoformat(record.ready_at or record.updated_at or now.isoformat())
    report = activity_report(settings().activity_table, name)
    if report is not None and _counts(report, now, ready_since):
        signals, source = signals_from_report(report), "report"
    else:
        # Only the task's own sidecar can see Jupyter: the sweep runs outside the VPC, and the notebook's URL
        # admits the viewer allow-list only. No fresh report counts as unreachable (3 in a row: UNHEALTHY).
        reported = f"last report at {str(report.get('reportedAt'))[:40]!r}" if report else "no report yet"
        signals = Signals(reachable=False, error=f"no activity report from the notebook task ({reported})")
        source = "stale report" if report else "no report"
    run = record.benchmark_run
    if run and now < datetime.fromisoformat(run.deadline):  # cleared when it ends; the deadline if it dies
        signals = replace(signals, benchmark=run.execution_arn or "the start's benchmark")
    policy = _policy(record)
    decision: Decision = decide(signals, policy, now, ready_since, unreachable_before=record.unreachable_count,
                                warned=record.idle_warning_at is not None)
    summary = SweepDecision(environment=name, action=decision.action, reason=decision.reason,
                            evidence=_plain({**decision.evidence, "source": source}), at=now.isoformat())
    if decision.action == "stop":
        stop(name, decision.reason, decision.evidence)
    elif decision.action == "unhealthy":
        stop(name, decision.reason, decision.evidence, final=EnvironmentState.UNHEALTHY)
    else:
        changes: dict[str, Any] = {"lastSweep": summary, "unreachableCount": int(
            decision.evidence.get("unreachable_count", 0))}
        remove: tuple[str, ...] = ()
        if decision.action == "warn":
            changes["idleWarningAt"] = now.isoformat()
            events.publish("EnvironmentIdleWarning", to_item(summary))
        elif record.idle_warning_at is not None and decision.idle_minutes is not None \
                and decision.idle_minutes < policy.idle_minutes - policy.warning_minutes:
            remove = ("idleWarningAt",)  # active again: the next idle spell gets its own warning
        environment_store().transition(name, {EnvironmentState.READY}, changes, remove=remove)
    return summary


def sweep(now: datetime | None = None) -> list[SweepDecision]:
    """Judge every READY environment and settle every DELETING one, concurrently and independently:
    one failure stops no other."""
    now = now or datetime.now(UTC)
    records = [r for r in environment_store().list()
               if r.state in (EnvironmentState.READY, EnvironmentState.DELETING)]

    def safe(record: EnvironmentRecord) -> SweepDecision:
        try:
            if record.state == EnvironmentState.DELETING:
                settled = settle_deletion(record, now)
                return SweepDecision(environment=record.name, action="delete", reason=settled.state,
                                     at=now.isoformat())
            return judge(record, now)
        except Exception as error:
            return SweepDecision(environment=record.name, action="error", reason=f"{type(error).__name__}: {error}",
                                 at=now.isoformat())

    with ThreadPoolExecutor(max_workers=SWEEP_CONCURRENCY) as pool:
        return list(pool.map(safe, records))


def reconcile(now: datetime | None = None) -> list[dict[str, Any]]:
    """Settle what a failure left behind, judged from the real resources; each correction with its evidence.

    - a start whose execution ended (aborted, timed out, failed) without settling its record: FAILED, compute
      released (what MarkFailed would have done);
    - a stop that died between its writes (STOPPING past STOP_DEADLINE): finished;
    - a benchmark whose workflow ended without clearing it (aborted): released, its task stopped;
    - an Auto Scaling group with capacity whose environment is not READY or PROVISIONING: scaled to zero,
      and said so on the record.
    """
    now = now or datetime.now(UTC)
    store = environment_store()
    corrections = []

    def corrected(name: str, action: str, evidence: dict[str, Any]) -> None:
        corrections.append({"environment": name, "action": action, "evidence": evidence, "at": now.isoformat()})

    for record in store.list():
        name, state = record.name, record.state
        changed = datetime.fromisoformat(record.updated_at or now.isoformat())
        if state == EnvironmentState.PROVISIONING and record.execution_arn:
            status = stepfunctions.status(record.execution_arn)
            if status != "RUNNING":
                settled = provisioning.mark_failed(name, CaughtError(
                    error="StartEnded", cause=f"the start's workflow ended {status} without settling it"))
                corrected(name, "failed", {"execution": record.execution_arn, "status": status,
                                           "capacity": settled.capacity})
        elif state == EnvironmentState.READY and record.benchmark_run and not provisioning.execution_running(
                record.benchmark_run.execution_arn, record.benchmark_run.started_at):
            # its workflow ended without clearing it (aborted, or a StartExecution that failed): the sweep would
            # count it as activity until its deadline, and its task may still hold the Neuron devices
            run = record.benchmark_run
            if record.benchmark_task_arn and record.benchmark_task_token:
                ecs.stop_task(names_for(name).cluster, record.benchmark_task_arn, "its workflow ended")
            store.transition(name, {EnvironmentState.READY}, {"updatedAt": now.isoformat()},
                             remove=("benchmarkRun", "benchmarkTaskToken"))
            corrected(name, "benchmark released", {"execution": run.execution_arn, "since": run.started_at,
                                                   "task": record.benchmark_task_arn})
        elif state == EnvironmentState.STOPPING and now - changed > STOP_DEADLINE:
            stop(name, record.stop_reason or "a stop that had not finished")
            corrected(name, "stopped", {"stopping since": record.updated_at})
        elif state == EnvironmentState.DELETED and now - (
                datetime.fromisoformat(record.deleted_at) if record.deleted_at else changed) <= LATE_STACK_WINDOW:
            # a start's step still running when the environment was deleted may have created its stack after
            names = names_for(name)
            left = cloudformation.describe(names.stack)
            if left.status not in (None, "DELETE_COMPLETE", "DELETE_IN_PROGRESS"):
                capacity.force_delete(names.auto_scaling_group, names.cluster, names.service)
                cloudformation.delete(names.stack, settings().environment_stack_role_arn)
                secrets.delete(names.token_secret)
                home = left.outputs.get("FileSystemId")
                if home:  # /home is retained by the template: on the record, not lost
                    store.transition(name, {EnvironmentState.DELETED}, {"retainedFileSystemId": home})
                corrected(name, "deleted", {"stack": names.stack, "status": left.status, "home": home})

    for group, desired in capacity.groups_with_capacity(GROUP_PREFIX).items():
        name = group.removeprefix(GROUP_PREFIX)
        found = store.find(name)
        if found and found.state in (EnvironmentState.READY, EnvironmentState.PROVISIONING):
            continue
        left_in = found.state if found else "no record"
        names = names_for(name)
        capacity.scale_to_zero(names.auto_scaling_group, names.cluster, names.service, missing_ok=True)
        evidence = {"group": group, "instances": desired, "state": left_in}
        if found:
            store.transition(name, {left_in}, {"capacity": f"released by the reconciler: {desired} instance(s) "
                                                         f"while {left_in}", "updatedAt": now.isoformat()})
        corrected(name, "released", evidence)
    return corrections
