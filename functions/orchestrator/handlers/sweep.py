"""Scheduled idle sweep. First cut: list READY environments (the idle policy is its own issue)."""

from __future__ import annotations

from typing import Any

from orchestrator.domain import environments
from orchestrator.observability import lambda_entry, logger, metrics


@lambda_entry
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ready = [e["name"] for e in environments.list_all() if e["state"] == "READY"]
    metrics.add_metric(name="ReadyEnvironments", unit="Count", value=len(ready))
    logger.info("idle sweep", extra={"ready": ready})
    return {"ready": ready}
