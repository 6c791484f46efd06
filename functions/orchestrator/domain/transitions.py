"""The environment record's state machine: which states each transition may start from."""

from __future__ import annotations

from orchestrator.models.states import EnvironmentState as S

# transition -> states the record must be in for it to apply
ALLOWED_FROM: dict[str, set[str]] = {
    "start": {S.STOPPED, S.FAILED, S.DELETED, S.UNHEALTHY},
    "ready": {S.PROVISIONING},
    # FAILED again: the workflow retries the step that marks it. Never from a stop or delete: they settle.
    "fail": {S.PROVISIONING, S.READY, S.FAILED},
    "benchmark": {S.READY},
    # a start in flight is aborted first; a stop that died halfway (STOPPING) is finished
    "stop": {S.READY, S.PROVISIONING, S.STOPPING},
    "stopped": {S.STOPPING},
    "delete": {S.READY, S.STOPPED, S.FAILED, S.UNHEALTHY, S.PROVISIONING, S.STOPPING},
    "deleted": {S.DELETING},
}


# What a user can do from each state: every 409 says it, and every state has a way out.
WHAT_NEXT: dict[str, str] = {
    S.PROVISIONING: "wait for the start to finish (neuronlab status NAME), or stop or delete it",
    S.READY: "stop or delete it",
    S.STOPPING: "stop it again to finish the stop, or delete it",
    S.STOPPED: "start or delete it",
    S.UNHEALTHY: "start or delete it",
    S.FAILED: "start it again (its stack is updated) or delete it",
    S.DELETING: "wait: the delete settles within minutes (neuronlab status NAME)",
    S.DELETED: "start it to create it again",
}
