"""The environment record's states: a plain enum, so code that only moves records imports no pydantic model."""

from __future__ import annotations

from enum import StrEnum


class EnvironmentState(StrEnum):
    PROVISIONING = "PROVISIONING"
    READY = "READY"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"
    UNHEALTHY = "UNHEALTHY"  # the notebook stopped answering; scaled to zero
    DELETING = "DELETING"
    DELETED = "DELETED"
