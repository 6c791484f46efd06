"""Logger, Metrics and (when tracing is on) Tracer, created once; service name and namespace come from the
template's Globals.

The X-Ray SDK alone costs a cold start more than all of boto3 (bench/cold_start.py), so the Tracer is
created only where tracing is on: the template's Tracing parameter (Active) clears POWERTOOLS_TRACE_DISABLED.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from aws_lambda_powertools import Logger, Metrics

from orchestrator.settings import Settings, require

logger = Logger()
metrics = Metrics()

Handler = Callable[[dict[str, Any], Any], Any]


def tracing_on() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() not in ("true", "1")


def lambda_entry(*needs: str) -> Callable[[Handler], Handler]:
    """The fixed decorator order of every handler: context/correlation id -> metrics -> tracing.

    `needs`: the settings (orchestrator.settings.Settings fields) the function cannot run without. They are checked
    when Lambda loads this handler (`_HANDLER`, a reserved variable: the handler configured on the function,
    https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime), so a
    misconfigured function fails its init naming the variable, and again on each call (one process may run many
    functions: LocalCloud, tests)."""
    unknown = [name for name in needs if name not in {f.name for f in fields(Settings)}]
    if unknown:
        raise TypeError(f"not settings: {unknown}")

    def entry(handler: Handler) -> Handler:
        function = f"{handler.__module__}.{handler.__name__}"
        if os.environ.get("_HANDLER") == function:
            require(function, needs)

        @functools.wraps(handler)
        def configured(event: dict[str, Any], context: Any) -> Any:
            require(function, needs)
            return handler(event, context)

        configured.needs = needs  # type: ignore[attr-defined]  # tests compare them with template.yaml
        wrapped: Handler = configured
        if tracing_on():
            from aws_lambda_powertools import Tracer

            wrapped = Tracer().capture_lambda_handler(wrapped)
        return logger.inject_lambda_context(clear_state=True)(metrics.log_metrics(wrapped))

    return entry
