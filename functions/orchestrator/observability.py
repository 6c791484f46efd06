"""Logger, Tracer and Metrics, created once; service name and namespace come from template Globals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()

Handler = Callable[[dict[str, Any], Any], Any]


def lambda_entry(handler: Handler) -> Handler:
    """The fixed decorator order of every handler: context/correlation id -> metrics -> tracing."""
    return logger.inject_lambda_context(clear_state=True)(
        metrics.log_metrics(tracer.capture_lambda_handler(handler))
    )
