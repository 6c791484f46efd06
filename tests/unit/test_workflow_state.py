"""The workflow state is one typed shape: every path the state machine reads or writes is a field of it, and a
state of the wrong shape is refused naming the path and the rule."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest

from orchestrator.errors import InvalidWorkflowState
from orchestrator.models.workflow import WorkflowState, parse, to_json
from tests.helpers import workflow_state

ASL = Path(__file__).resolve().parents[2] / "statemachine" / "provision.asl.json"
PATH_KEYS = ("Variable", "ResultPath", "SecondsPath", "HeartbeatSecondsPath", "TimeoutSecondsPath", "InputPath",
             "OutputPath")


def _paths(node: Any) -> set[str]:
    """Every reference path into the state ($.a.b) the definition holds, Parameters' `key.$` values included."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and value.startswith("$.") and (key in PATH_KEYS or key.endswith(".$")):
                found.add(value)
            found |= _paths(value)
    elif isinstance(node, list):
        for value in node:
            found |= _paths(value)
    return found


def _struct(kind: Any) -> type[msgspec.Struct] | None:
    """The Struct a field's type names (through `X | None` and `str | X`), if any."""
    for option in typing.get_args(kind) or (kind,):
        if isinstance(option, type) and issubclass(option, msgspec.Struct):
            return option
    return None


def _resolves(path: str) -> bool:
    kind: Any = WorkflowState
    for step in path.removeprefix("$.").split("."):
        struct = _struct(kind)
        if struct is None:
            return False
        fields = {f.encode_name: f.type for f in msgspec.structs.fields(struct)}
        if step not in fields:
            return False
        kind = fields[step]
    return True


def test_every_path_the_state_machine_uses_is_a_field_of_the_workflow_state() -> None:
    paths = _paths(json.loads(ASL.read_text()))
    assert {"$.stack.complete", "$.notebook.healthy", "$.benchmark.gate", "$.timeouts.benchmarkSeconds"} <= paths
    assert [p for p in sorted(paths) if not _resolves(p)] == []


def test_every_task_result_the_state_holds_is_written_by_the_state_machine() -> None:
    """The fields a Task adds (those after `waits`) are exactly the ResultPaths of the definition."""
    definition = json.loads(ASL.read_text())
    result_paths = {s["ResultPath"].removeprefix("$.") for s in definition["States"].values() if "ResultPath" in s}
    result_paths |= {c["ResultPath"].removeprefix("$.") for s in definition["States"].values()
                     for c in s.get("Catch", [])}
    added = [f.encode_name for f in msgspec.structs.fields(WorkflowState)]
    added = added[added.index("waits") + 1:]
    assert set(added) == result_paths - {"image"}  # CheckImage resolves the image it was given


def test_a_state_of_the_wrong_shape_is_refused_naming_the_path() -> None:
    with pytest.raises(InvalidWorkflowState, match=r"Expected `int` >= 1 - at `\$.benchmark.seconds`"):
        workflow_state(benchmark={"seconds": 0})
    with pytest.raises(InvalidWorkflowState, match=r"unknown field `stak`"):
        workflow_state(stak={})
    with pytest.raises(InvalidWorkflowState, match=r"missing required field `timeouts`"):
        parse({"name": "demo", "instanceType": "inf2.xlarge", "image": "x", "benchmark": {}}, WorkflowState)


def test_a_step_result_round_trips_in_the_states_own_names() -> None:
    state = workflow_state(stack={"name": "s", "operation": "CREATE", "deadline": 1.5, "outputs": {"A": "b"}})
    as_json = to_json(state)
    assert as_json["instanceType"] == "inf2.xlarge" and as_json["stack"]["outputs"] == {"A": "b"}
    assert parse(as_json, WorkflowState) == state
