"""Configuration from environment variables (template.yaml: Globals and each function's own), read per function.

Each handler names the settings it needs (`lambda_entry(needs=...)`); a missing one fails the function at import
on Lambda (its `_HANDLER` names the handler being loaded), and at the call anywhere else, with a message naming
the variable. LocalCloud runs every function in one process: it gives each invocation its own function's
variables through FUNCTION_VARIABLES, so a function reading a variable its template entry lacks fails there too.

A frozen dataclass, not a pydantic model: the sweep and the task-event functions need no pydantic at all, and
pydantic's import is a third of a handler's cold start beyond boto3 (bench/cold_start.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, fields
from functools import lru_cache

# The invoked function's variables where one process runs many functions (LocalCloud); None on Lambda, where the
# process environment is the function's own.
FUNCTION_VARIABLES: ContextVar[Mapping[str, str] | None] = ContextVar("neuronlab_function_variables", default=None)


class SettingsError(RuntimeError):
    """A variable the function needs is missing or malformed (the message names it)."""


@dataclass(frozen=True)
class Settings:
    """Every setting of every function; "" is a string setting that is not configured."""

    environments_table: str = ""
    benchmarks_table: str = ""
    idempotency_table: str = ""
    activity_table: str = ""  # the notebook tasks' activity reports (task-writable: idle decisions only)
    artifact_bucket: str = ""
    environment_stack_role_arn: str = ""
    role_boundary_arn: str = ""  # the permissions boundary every role of an environment stack carries
    state_machine_arn: str = ""
    stack_prefix: str = "neuronlab-env-"
    default_image: str = ""
    shared_network_stack: str = ""  # nested/shared.yml, created with the orchestrator
    custom_domain: str = ""
    certificate_arn: str = ""
    # the workflow's polling cadence and deadlines (LocalCloud deploys with short polls); every int is >= 1
    stack_poll_seconds: int = 15
    notebook_poll_seconds: int = 10
    stack_timeout_seconds: int = 1800
    notebook_timeout_seconds: int = 900
    benchmark_timeout_seconds: int = 7200
    # the deployment's limits (template.yaml parameters)
    max_running_environments: int = 5
    max_environments_per_caller: int = 2
    admin_principals: str = ""  # comma-separated ARN patterns (fnmatch): may act on every environment
    allowed_instance_types: str = ""  # comma-separated; empty: every type of the instance-type table
    max_benchmark_seconds: int = 1800
    benchmark_heartbeat_seconds: int = 600


def _value(name: str, kind: str, raw: str) -> str | int:
    if kind == "str":
        return raw
    try:
        number = int(raw)
    except ValueError:
        raise SettingsError(f"environment variable {name.upper()}: {raw!r} is not a whole number") from None
    if number < 1:
        raise SettingsError(f"environment variable {name.upper()}: must be at least 1, not {number}")
    return number


def settings() -> Settings:
    """The settings of the function being invoked."""
    variables = FUNCTION_VARIABLES.get()
    return _parsed(None if variables is None else tuple(sorted(variables.items())))


@lru_cache(maxsize=32)
def _parsed(variables: tuple[tuple[str, str], ...] | None) -> Settings:
    environment = os.environ if variables is None else dict(variables)
    values = {f.name: _value(f.name, str(f.type), environment[f.name.upper()])
              for f in fields(Settings) if f.name.upper() in environment}
    return Settings(**values)  # type: ignore[arg-type]


settings.cache_clear = _parsed.cache_clear  # type: ignore[attr-defined]  # tests change os.environ


def require(function: str, needs: tuple[str, ...]) -> None:
    """SettingsError naming every variable `function` needs that is not set."""
    config = settings()
    missing = [name.upper() for name in needs if getattr(config, name) in ("", None)]
    if missing:
        raise SettingsError(f"{function}: environment variable(s) {', '.join(missing)} required "
                            "(template.yaml: the function's Environment)")
