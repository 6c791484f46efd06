"""The API's contract: the OpenAPI document is generated from the resolver's models, committed, served, and
covers exactly the routes template.yaml gives API Gateway."""

from __future__ import annotations

import json
from pathlib import Path

from localcloud.deploy import load_sam_template
from orchestrator.handlers.api import app, openapi_document
from tests.helpers import FakeContext, proxy_event

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_document_is_the_generated_one() -> None:
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert committed == openapi_document(), "docs/openapi.json is stale: run `make docs` and commit it"


def test_the_api_serves_its_document(tables: dict[str, str]) -> None:
    response = app.resolve(proxy_event("GET", "/openapi.json"), FakeContext())
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == openapi_document()


def test_routes_and_template_events_are_the_same_set() -> None:
    events = load_sam_template()["Resources"]["ApiFunction"]["Properties"]["Events"].values()
    in_template = {(e["Properties"]["Method"].upper(), e["Properties"]["Path"]) for e in events}
    # the document lists every route of the resolver but its own
    documented = {(method.upper(), path) for path, operations in openapi_document()["paths"].items()
                  for method in operations}
    assert in_template == documented | {("GET", "/openapi.json")}


def test_every_error_response_has_the_one_error_shape() -> None:
    document = openapi_document()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
                assert not status.startswith("5") or status == "503", (method, path, status)
