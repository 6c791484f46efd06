"""Logger, Metrics and (when tracing is on) Tracer, created once; service name and namespace come from the
template's Globals.

The X-Ray SDK alone costs a cold start more than all of boto3 (bench/cold_start.py), so the Tracer is
created only where tracing is on: the template's Tracing parameter (Active) clears POWERTOOLS_TRACE_DISABLED.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()

Handler = Callable[[dict[str, Any], Any], Any]


def tracing_on() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() not in ("true", "1")


def lambda_entry(handler: Handler) -> Handler:
    """The fixed decorator order of every handler: context/correlation id -> metrics -> tracing."""
    if tracing_on():
        from aws_lambda_powertools import Tracer

        handler = Tracer().capture_lambda_handler(handler)
    return logger.inject_lambda_context(clear_state=True)(metrics.log_metrics(handler))
