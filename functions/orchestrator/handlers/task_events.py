"""EventBridge 'ECS Task State Change' (STOPPED) for benchmark tasks: fail the waiting step early."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source

from orchestrator.domain import provisioning
from orchestrator.observability import lambda_entry, logger


@lambda_entry("environments_table")
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: Any) -> dict[str, Any]:
    outcome = provisioning.benchmark_task_stopped(event.detail)
    logger.info("benchmark task stopped", extra={"task": event.detail.get("taskArn"), **outcome})
    return outcome
