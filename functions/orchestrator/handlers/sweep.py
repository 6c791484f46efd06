"""Scheduled idle sweep and reconciler: scale idle environments to zero, settle what failures left behind."""

from __future__ import annotations

from typing import Any

from orchestrator.domain import lifecycle
from orchestrator.models.record import to_item
from orchestrator.observability import lambda_entry, logger, metrics


@lambda_entry("environments_table", "activity_table", "environment_stack_role_arn")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The schedule: an idle sweep, then the reconciler. An execution that ended badly (EventBridge), or
    `neuronlab reconcile` ({"reconcile": true}): the reconciler alone."""
    decisions: list[dict[str, Any]] = []
    if not (event.get("reconcile") or event.get("detail-type") == "Step Functions Execution Status Change"):
        decisions = [to_item(d) for d in lifecycle.sweep()]
        for decision in decisions:
            logger.info("idle decision", extra=decision)
        stopped = sum(d["action"] in ("stop", "unhealthy") for d in decisions)
        metrics.add_metric(name="EnvironmentsJudged", unit="Count", value=len(decisions))
        metrics.add_metric(name="EnvironmentsStopped", unit="Count", value=stopped)
    corrections = lifecycle.reconcile()
    for correction in corrections:
        logger.warning("reconciled", extra=correction)
    metrics.add_metric(name="EnvironmentsReconciled", unit="Count", value=len(corrections))
    return {"decisions": decisions, "corrections": corrections}
