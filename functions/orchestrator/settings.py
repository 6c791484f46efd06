"""Configuration from environment variables (set in template.yaml Globals), validated once per process."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field


class Settings(BaseModel):
    environments_table: str = Field(min_length=1)
    benchmarks_table: str = Field(min_length=1)
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
    # the workflow's polling cadence and deadlines (LocalCloud deploys with short polls)
    stack_poll_seconds: int = Field(default=15, ge=1)
    notebook_poll_seconds: int = Field(default=10, ge=1)
    stack_timeout_seconds: int = Field(default=1800, ge=1)
    notebook_timeout_seconds: int = Field(default=900, ge=1)
    benchmark_timeout_seconds: int = Field(default=7200, ge=1)
    # the deployment's limits (template.yaml parameters)
    max_running_environments: int = Field(default=5, ge=1)
    max_environments_per_caller: int = Field(default=2, ge=1)
    admin_principals: str = ""  # comma-separated ARN patterns (fnmatch): may act on every environment
    allowed_instance_types: str = ""  # comma-separated; empty: every type of the instance-type table
    max_benchmark_seconds: int = Field(default=1800, ge=1)
    benchmark_heartbeat_seconds: int = Field(default=600, ge=1)


@lru_cache(maxsize=1)
def settings() -> Settings:
    names = Settings.model_fields
    return Settings.model_validate({k.lower(): v for k, v in os.environ.items() if k.lower() in names})
