"""The record's state machine as a whole: from every state, every command gives a defined answer, and no
sequence of commands and failures reaches a state without a way out."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from orchestrator.domain.transitions import ALLOWED_FROM, WHAT_NEXT
from orchestrator.handlers import api
from orchestrator.models.environment import EnvironmentState as S
from orchestrator.settings import settings
from tests.helpers import ALICE, FakeContext, proxy_event

COMMANDS = {"start": ("POST", "/environments/{name}/start"), "stop": ("POST", "/environments/{name}/stop"),
            "delete": ("DELETE", "/environments/{name}")}
# What a command, or what happens by itself (the workflow, the sweep, the reconciler), moves a record to.
MOVES: dict[str, list[str]] = {
    S.PROVISIONING: [S.READY, S.FAILED, S.STOPPED, S.DELETING],  # done, failed (or reconciled), stop, delete
    S.READY: [S.STOPPING, S.DELETING, S.UNHEALTHY],
    S.STOPPING: [S.STOPPED, S.FAILED, S.DELETING],  # finished (by the stop or the reconciler)
    S.STOPPED: [S.PROVISIONING, S.DELETING],
    S.UNHEALTHY: [S.PROVISIONING, S.DELETING],
    S.FAILED: [S.PROVISIONING, S.DELETING],
    S.DELETING: [S.DELETED, S.FAILED],  # settled by the sweep
    S.DELETED: [S.PROVISIONING],
}


def test_every_state_has_a_next_step_for_the_user() -> None:
    assert set(WHAT_NEXT) == set(S)
    for state in S:
        allowed = {command for command in COMMANDS if state in ALLOWED_FROM[command]}
        hint = WHAT_NEXT[state]
        assert allowed or hint.startswith("wait"), state  # no command at all only while something settles it
        assert all(command in hint for command in allowed), (state, hint)


def test_from_every_state_the_environment_can_reach_zero_cost_and_come_back() -> None:
    def reachable(start: str) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            for following in MOVES[todo.pop()]:
                if following not in seen:
                    seen.add(following)
                    todo.append(following)
        return seen

    for state in S:
        assert {S.DELETED, S.READY} <= reachable(state), state


def put(state: str) -> None:
    record: dict[str, Any] = {"name": "demo", "state": state, "owner": ALICE, "instanceType": "inf2.xlarge",
                              "allowCidrs": [],
                              "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/neuronlab:latest",
                              "updatedAt": "2026-11-27T00:00:00+00:00", "createdAt": "2026-11-27T00:00:00+00:00"}
    boto3.resource("dynamodb").Table(settings().environments_table).put_item(Item=record)


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_from_every_state_gives_a_defined_answer(state_machine: str, state: str, command: str) -> None:
    # Given a record in `state` (with nothing deployed: every command must cope with what is not there)
    put(state)
    method, path = COMMANDS[command]

    # When the user gives the command
    response = api.handler(proxy_event(method, path.format(name="demo"), {} if method == "POST" else None),
                           FakeContext())
    body = json.loads(response["body"])

    # Then it is done, or refused with what to do instead
    if state in ALLOWED_FROM[command]:
        assert response["statusCode"] in (200, 202), body
    else:
        assert response["statusCode"] == 409, body
        assert WHAT_NEXT[state] in body["message"]
