"""The environment stack role (template.yaml, EnvironmentStackRole) allows every API call CloudFormation's
resource handlers make for the resources in the environment's templates (localcloud.stack_role says which
calls, from the provider schemas cfn-lint ships, and on which ARN)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from localcloud import stack_role
from tests.conftest import ROOT

REGION, ACCOUNT, NAME = "us-east-1", "123456789012", "demo"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/neuronlab-EnvironmentRoleBoundary-ABC"
ENVIRONMENT_TEMPLATES = ["environment.yml", "capacity.yml", "notebook.yml"]


def _resolve(value: Any) -> Any:
    """The role's policy with pseudo parameters and the artifact bucket filled in."""
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    if isinstance(value, dict):
        if value == {"Ref": "EnvironmentRoleBoundary"}:
            return BOUNDARY
        if "Fn::Sub" in value:
            text = value["Fn::Sub"]
            return (text.replace("${AWS::Partition}", "aws").replace("${AWS::Region}", REGION)
                    .replace("${AWS::AccountId}", ACCOUNT).replace("${ArtifactBucket.Arn}", "arn:aws:s3:::artifacts"))
        return {k: _resolve(v) for k, v in value.items()}
    return value


def stack_role_policies() -> list[dict[str, Any]]:
    role = yaml_parse((ROOT / "template.yaml").read_text())["Resources"]["EnvironmentStackRole"]["Properties"]
    return [_resolve(policy["PolicyDocument"]) for policy in role["Policies"]]


def environment_resource_types() -> list[str]:
    types = set()
    for name in ENVIRONMENT_TEMPLATES:
        for resource in yaml_parse((ROOT / "nested" / name).read_text())["Resources"].values():
            types.add(resource["Type"])
    return sorted(types)


def _properties_of(resource_type: str) -> list[dict[str, Any]]:
    return [resource.get("Properties") or {} for name in ENVIRONMENT_TEMPLATES
            for resource in yaml_parse((ROOT / "nested" / name).read_text())["Resources"].values()
            if resource["Type"] == resource_type]


def missing(resource_type: str, policies: list[dict[str, Any]]) -> list[str]:
    """What each resource of the type needs and the role does not allow (with the condition keys its calls carry:
    a role's boundary and managed policies)."""
    found: list[str] = []
    for properties in _properties_of(resource_type) or [{}]:
        context = stack_role.condition_context(properties, {"PermissionsBoundaryArn": BOUNDARY})
        found += [m for m in stack_role.missing_permissions(resource_type, policies, REGION, ACCOUNT, NAME, context)
                  if m not in found]
    return found


@pytest.mark.parametrize("resource_type", environment_resource_types())
def test_the_stack_role_allows_every_handler_permission(resource_type: str) -> None:
    assert resource_type in stack_role.resource_arns(REGION, ACCOUNT, NAME), \
        f"add the ARN {resource_type} resources get to localcloud.stack_role.resource_arns"
    assert missing(resource_type, stack_role_policies()) == []


def test_a_permission_taken_away_is_found() -> None:
    """The check itself: without ecs:TagResource on task definitions, registering one is AccessDenied."""
    policies = json.loads(json.dumps(stack_role_policies()))
    for statement in [s for p in policies for s in p["Statement"]]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [a for a in actions if a != "ecs:TagResource"] or ["none:None"]
    found = missing("AWS::ECS::TaskDefinition", policies)
    assert any(m.startswith("ecs:TagResource on arn:aws:ecs:") for m in found), found


def test_every_exemption_matches_a_permission_some_schema_lists() -> None:
    listed = [p for t in environment_resource_types() for p in stack_role.provider_permissions(t)]
    for key, reason in stack_role.NOT_NEEDED.items():
        assert any(p.split(":")[0] == key or p.startswith(key) for p in listed), key
        assert len(reason.split()) >= 5


def test_permissions_iam_does_not_know_are_few_and_named() -> None:
    unknown = {p for t in environment_resource_types() for p in stack_role.provider_permissions(t)
               if not stack_role.known_to_iam(p)}
    assert unknown and all(":" in p for p in unknown)
    assert "ecs:TagResource" not in unknown and stack_role.known_to_iam("ec2:Describe*")


def test_no_exempted_feature_is_used() -> None:
    text = "\n".join((ROOT / "nested" / name).read_text() for name in ENVIRONMENT_TEMPLATES)
    assert not re.search(r"KmsKeyId|authenticate-cognito|DataProtectionPolicy|TrafficSources|ResourcePolicyDocument"
                         r"|FieldIndexPolicies|DeliverySource", text)


def test_a_role_without_the_boundary_could_not_be_created() -> None:
    """The check sees the condition: the same role, without PermissionsBoundary, is refused iam:CreateRole."""
    role = {"RoleName": "neuronlab-env-demo-notebook"}
    found = stack_role.missing_permissions("AWS::IAM::Role", stack_role_policies(), REGION, ACCOUNT, NAME,
                                           stack_role.condition_context(role, {}))
    assert any(m.startswith("iam:CreateRole on") for m in found), found


def test_the_calls_doctor_simulates_are_current() -> None:
    """cli/neuronlab/stack_role_calls.json is what `make docs` writes from the provider schemas and the templates."""
    shipped = json.loads((ROOT / "cli" / "neuronlab" / "stack_role_calls.json").read_text())
    assert shipped == stack_role.doctor_calls(ROOT), "run `make docs`"
    assert {"action": "cloudfront:CreateFunction", "resource": "*", "context": {}} in shipped
