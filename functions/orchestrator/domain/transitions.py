"""The environment record's state machine: which states each transition may start from."""

from __future__ import annotations

from orchestrator.models.environment import EnvironmentState as S

# transition -> states the record must be in for it to apply
ALLOWED_FROM: dict[str, set[str]] = {
    "start": {S.STOPPED, S.FAILED, S.DELETED, S.UNHEALTHY},
    "ready": {S.PROVISIONING},
    # FAILED again: the workflow retries the step that marks it. Never from DELETING: a delete settles itself.
    "fail": {S.PROVISIONING, S.READY, S.STOPPING, S.FAILED},
    "benchmark": {S.READY},
    "stop": {S.READY},
    "stopped": {S.STOPPING},
    # a running environment may be deleted too; only a workflow in flight (PROVISIONING) must end first
    "delete": {S.READY, S.STOPPED, S.FAILED, S.UNHEALTHY},
    "deleted": {S.DELETING},
}
