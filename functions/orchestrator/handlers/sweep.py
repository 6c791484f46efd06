"""Scheduled idle sweep: judge every READY environment and scale the idle ones to zero."""

from __future__ import annotations

from typing import Any

from orchestrator.domain import lifecycle
from orchestrator.observability import lambda_entry, logger, metrics


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    decisions = lifecycle.sweep()
    for decision in decisions:
        logger.info("idle decision", extra=decision)
    stopped = sum(d["action"] in ("stop", "unhealthy") for d in decisions)
    metrics.add_metric(name="EnvironmentsJudged", unit="Count", value=len(decisions))
    metrics.add_metric(name="EnvironmentsStopped", unit="Count", value=stopped)
    return {"decisions": decisions}
