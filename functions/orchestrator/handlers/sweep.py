"""Scheduled idle sweep and reconciler: scale idle environments to zero, settle what failures left behind."""

from __future__ import annotations

from typing import Any

from orchestrator.domain import lifecycle
from orchestrator.observability import lambda_entry, logger, metrics


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The schedule: an idle sweep, then the reconciler. An execution that ended badly (EventBridge), or
    `neuronlab reconcile` ({"reconcile": true}): the reconciler alone."""
    decisions = []
    if not (event.get("reconcile") or event.get("detail-type") == "Step Functions Execution Status Change"):
        decisions = lifecycle.sweep()
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
