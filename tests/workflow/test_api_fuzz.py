"""schemathesis against LocalCloud's API, from the committed OpenAPI document: generated requests, valid and
invalid, signed as two people. No 5xx, every response as the document says, and no invalid request changes
an environment record."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from localcloud.cloud import LocalCloud
from orchestrator.handlers.api import openapi_document
from tests.workflow.conftest import http, running

# At least 1000 cases in all: each operation gets this many valid and this many invalid ones.
CASES_PER_OPERATION_AND_MODE = 70
# A fuzzed start that is valid starts a real workflow: two at most, then the limit answers (a 403).
FUZZ_PARAMETERS = {"MaxRunningEnvironments": "2", "MaxEnvironmentsPerCaller": "2", "StackPollSeconds": "1"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with running(tmp_path_factory.mktemp("fuzz"), FUZZ_PARAMETERS) as instance:
        yield instance


def _record(name: Any) -> dict[str, Any] | None:
    """What a request could change of the environment it names (the workflows of earlier valid starts run on,
    so only this one record is compared)."""
    if not isinstance(name, str) or not name:
        return None
    table = next(t for t in boto3.client("dynamodb").list_tables()["TableNames"] if "EnvironmentsTable" in t)
    item = boto3.resource("dynamodb").Table(table).get_item(Key={"name": name}).get("Item")
    # what a request sets (state and updatedBy move with the running workflows)
    return {k: item[k] for k in ("owner", "instanceType", "image", "allowCidrs", "executionArn", "idlePolicy")
            if k in item} if item else None


def _run(operation: Any, mode: GenerationMode, cloud: LocalCloud, people: list[Any], counts: dict[str, int]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    # derandomized: the same cases on every run, so a red CI is a regression, never luck
    @settings(max_examples=CASES_PER_OPERATION_AND_MODE, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def call(case: schemathesis.Case) -> None:
        named = (case.path_parameters or {}).get("name") or (case.body.get("name") if isinstance(case.body, dict)
                                                                   else None)
        before = _record(named)
        # the document's security scheme is SigV4 in Authorization: a case that carries one is signed for real
        # (as one of two people), a case without it goes unsigned
        http = people[counts["cases"] % 2] if "Authorization" in (case.headers or {}) else requests.Session()
        # valid input need not be accepted (a valid name that is unknown is a 404, one of the other person's a
        # 403 or 409), so that check is left out; every other default check runs
        response = case.call_and_validate(base_url=cloud.api.url, session=http,
                                          excluded_checks=[positive_data_acceptance])
        counts["cases"] += 1
        counts[f"{response.status_code // 100}xx"] = counts.get(f"{response.status_code // 100}xx", 0) + 1
        if response.status_code >= 400:
            assert _record(named) == before, (case.method, case.path, case.body, response.text)

    call()


def test_generated_requests_get_documented_answers_and_invalid_ones_change_nothing(cloud: LocalCloud) -> None:
    schema = schemathesis.openapi.from_dict(openapi_document())
    people = [http(cloud, "you"), http(cloud, "fuzz-other")]
    counts = {"cases": 0, "2xx": 0, "4xx": 0}
    began = time.monotonic()
    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _run(result.ok(), mode, cloud, people, counts)
    seconds = time.monotonic() - began
    print(f"\nschemathesis: {counts['cases']} cases in {seconds:.0f} s; answers {counts}")
    assert counts["cases"] >= 1000
    assert set(counts) <= {"cases", "2xx", "4xx"}  # never a 5xx (call_and_validate fails the case first)
