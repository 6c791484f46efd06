"""Configuration from environment variables (set in template.yaml Globals), validated once per process.

A frozen dataclass, not a pydantic model: the sweep and the task-event functions need no pydantic at all, and
pydantic's import is a third of a handler's cold start beyond boto3 (bench/cold_start.py).
"""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, fields
from functools import lru_cache


class SettingsError(RuntimeError):
    """A variable the function needs is missing or malformed (the message names it)."""


@dataclass(frozen=True)
class Settings:
    environments_table: str
    benchmarks_table: str
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


@lru_cache(maxsize=1)
def settings() -> Settings:
    values = {f.name: _value(f.name, str(f.type), os.environ[f.name.upper()])
              for f in fields(Settings) if f.name.upper() in os.environ}
    missing = [f.name.upper() for f in fields(Settings)
               if f.default is MISSING and not values.get(f.name)]
    if missing:
        raise SettingsError(f"environment variable(s) {', '.join(missing)} required (template.yaml Globals)")
    return Settings(**values)  # type: ignore[arg-type]
