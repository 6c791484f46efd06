"""What CloudFormation may do with the environment stack role, and what the data stores allow, read from the
templates (LocalCloud checks the stack role's handler permissions, but evaluates no IAM condition on them).

- Roles an environment stack creates carry a permissions boundary, and the stack role may create or change
  a role's policies only when that boundary is on it: code in a stack (or a changed nested template)
  cannot mint a role with more than the boundary allows.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
  https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html
  (the iam:PermissionsBoundary and iam:PolicyARN condition keys)
- The boundary covers what each role needs (its inline statements and the AWS managed policies it attaches,
  their documents as moto ships them), so it takes nothing away that a notebook or an instance uses.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from moto.iam.aws_managed_policies import aws_managed_policies_data
from samtranslator.yaml_helper import yaml_parse

from localcloud import iam
from localcloud.deploy import load_sam_template, translate

ROOT = Path(__file__).resolve().parents[2]
ROLE_POLICY_ACTIONS = {"iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy",
                       "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary"}


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else actions


def _nested_roles() -> dict[str, dict[str, Any]]:
    roles = {}
    for path in sorted((ROOT / "nested").glob("*.yml")):
        for logical_id, resource in yaml_parse(path.read_text())["Resources"].items():
            if resource["Type"] == "AWS::IAM::Role":
                roles[f"{path.name}:{logical_id}"] = resource["Properties"]
    return roles


def _stack_role_statements() -> list[dict[str, Any]]:
    role = load_sam_template()["Resources"]["EnvironmentStackRole"]["Properties"]
    return [s for policy in role["Policies"] for s in _statements(policy["PolicyDocument"])]


def _boundary_statements() -> list[dict[str, Any]]:
    boundary = load_sam_template()["Resources"]["EnvironmentRoleBoundary"]["Properties"]
    return _statements(boundary["PolicyDocument"])


@pytest.mark.parametrize("role", sorted(_nested_roles()))
def test_every_role_an_environment_creates_has_the_boundary(role: str) -> None:
    assert _nested_roles()[role].get("PermissionsBoundary") == {"Ref": "PermissionsBoundaryArn"}, role


def test_the_stack_role_changes_role_policies_only_under_the_boundary() -> None:
    granting = [s for s in _stack_role_statements() if s["Effect"] == "Allow"
                and any(fnmatchcase(a, pattern) for a in ROLE_POLICY_ACTIONS for pattern in _actions(s))]
    assert granting, "no statement lets CloudFormation create the environment roles"
    for statement in granting:
        assert statement["Condition"]["StringEquals"]["iam:PermissionsBoundary"] == \
            {"Ref": "EnvironmentRoleBoundary"}, statement
    everything = {a for s in _stack_role_statements() if s["Effect"] == "Allow" for a in _actions(s)}
    assert "iam:DeleteRolePermissionsBoundary" not in everything
    assert not any(a in ("iam:*", "*") for a in everything)


def test_the_stack_role_attaches_only_the_managed_policies_the_templates_name() -> None:
    attach = [s for s in _stack_role_statements() if "iam:AttachRolePolicy" in _actions(s)]
    assert attach and all("iam:PolicyARN" in s["Condition"].get("ArnEquals", {}) for s in attach)
    allowed = {arn["Fn::Sub"].replace("${AWS::Partition}", "aws")
               for s in attach for arn in s["Condition"]["ArnEquals"]["iam:PolicyARN"]}
    named = {arn["Fn::Sub"].replace("${AWS::Partition}", "aws")
             for role in _nested_roles().values() for arn in role.get("ManagedPolicyArns", [])}
    assert allowed == named


def _allowed_by_boundary(action: str) -> bool:
    return any(s["Effect"] == "Allow" and any(fnmatchcase(action.lower(), p.lower()) for p in _actions(s))
               for s in _boundary_statements())


@pytest.mark.parametrize("role", sorted(_nested_roles()))
def test_the_boundary_covers_everything_each_role_is_given(role: str) -> None:
    properties = _nested_roles()[role]
    needed = {a for policy in properties.get("Policies", []) for s in _statements(policy["PolicyDocument"])
              for a in _actions(s)}
    for arn in properties.get("ManagedPolicyArns", []):
        name = arn["Fn::Sub"].rsplit("/", 1)[-1]
        document = json.loads(aws_managed_policies_data)[name]["Document"]
        needed |= {a for s in _statements(document) if s["Effect"] == "Allow" for a in _actions(s)}
    missing = sorted(a for a in needed if not _allowed_by_boundary(a))
    assert missing == [], f"{role}: the boundary would take away {missing}"


def test_the_boundary_grants_no_iam_and_no_wildcard_service() -> None:
    for statement in _boundary_statements():
        for action in _actions(statement):
            assert not action.startswith(("iam:", "sts:", "organizations:")) and action != "*", action


def test_lasting_data_is_protected_from_deletion_and_plain_http() -> None:
    resources = load_sam_template()["Resources"]
    for table in ("EnvironmentsTable", "BenchmarksTable"):
        assert resources[table]["Properties"]["DeletionProtectionEnabled"] is True, table
    policy = resources["ArtifactBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "ArtifactBucket"}
    deny = [s for s in _statements(policy["PolicyDocument"]) if s["Effect"] == "Deny"]
    assert any(s["Action"] == "s3:*" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in deny)


def test_cloudfront_functions_are_changed_only_under_the_neuronlab_prefix() -> None:
    """Update, Publish and Delete name the function; CreateFunction has no resource type, so only "*" grants it."""
    scoped = {"cloudfront:UpdateFunction", "cloudfront:PublishFunction", "cloudfront:DeleteFunction"}
    grants = {a: s["Resource"] for s in _stack_role_statements() for a in _actions(s)
              if a in {*scoped, "cloudfront:CreateFunction"}}
    assert grants.pop("cloudfront:CreateFunction") == "*"
    assert grants == dict.fromkeys(
        scoped, {"Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:function/neuronlab-*"})


def _every_policy_statement() -> list[tuple[str, dict[str, Any]]]:
    """(where, statement) for every Allow of every role and policy the templates define: the functions' roles as
    SAM translates them, the stack role, the boundary, and the roles the environment stacks create."""
    templates = {"template.yaml": translate()}
    templates |= {path.name: yaml_parse(path.read_text()) for path in sorted((ROOT / "nested").glob("*.yml"))}
    found = []
    for name, template in templates.items():
        for logical_id, resource in template["Resources"].items():
            properties = resource.get("Properties", {})
            documents = [p["PolicyDocument"] for p in properties.get("Policies", [])] \
                if resource["Type"] == "AWS::IAM::Role" else \
                [properties["PolicyDocument"]] if resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy") \
                else []
            found += [(f"{name}:{logical_id}", s) for d in documents for s in _statements(d) if s["Effect"] == "Allow"]
    return found


def test_every_action_without_a_resource_type_is_granted_on_star() -> None:
    """An action the Service Authorization Reference lists with no resource type is granted only by
    "Resource": "*"; AWS refuses it under an ARN-scoped statement. Wildcard actions (logs:*) are left out: a
    scoped statement grants their members that have resource types, and tests/infrastructure/test_stack_role.py
    checks every call a handler makes against the role with this rule (localcloud.iam.evaluated_resource)."""
    statements = _every_policy_statement()
    assert len(statements) > 50  # the templates were read
    wrong = sorted({f"{where}: {action} on {statement['Resource']}" for where, statement in statements
                    for action in _actions(statement)
                    if "*" not in action and iam.resource_types(action) == []
                    and action.lower() not in iam.EVALUATED_ON_A_RESOURCE and statement.get("Resource") != "*"})
    assert wrong == []


def test_the_named_exceptions_are_actions_without_a_resource_type() -> None:
    for action, evidence in iam.EVALUATED_ON_A_RESOURCE.items():
        assert iam.resource_types(action) == [] and evidence, action


def test_only_the_api_may_read_a_notebook_token() -> None:
    """The token opens a notebook: of the orchestrator's roles, only the API's (which hands it to the environment's
    owner) reads it; the sweep deletes tokens and never reads one. (In the environment's stacks, the task execution
    role reads it for the ECS agent; the boundary is no grant.)"""
    readers = sorted({where.split(":")[1].removesuffix("Role") for where, statement in _every_policy_statement()
                      if any(fnmatchcase("secretsmanager:GetSecretValue", a) for a in _actions(statement))
                      and where.startswith("template.yaml") and not where.endswith("Boundary")})
    assert readers == ["ApiFunction"]
