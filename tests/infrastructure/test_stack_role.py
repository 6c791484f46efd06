"""The environment stack role (template.yaml, EnvironmentStackRole) allows every API call CloudFormation's
resource handlers make for the resources in the environment's templates.

The calls come from the CloudFormation resource provider schemas (`handlers.create|read|update|delete
.permissions`), which cfn-lint ships offline. Each permission is checked with moto's IAM policy evaluator
against the ARN the call acts on: the resource's own ARN for an action of its service, else the ARN of the
related resource the call names (the environment's roles for iam:PassRole, ...). "*" is what AWS uses for
actions without resource-level permissions; a statement scoped to an ARN does not match it.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import cfnlint
import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult
from samtranslator.yaml_helper import yaml_parse

from tests.conftest import ROOT

REGION, ACCOUNT, NAME = "us-east-1", "123456789012", "demo"
ENVIRONMENT_TEMPLATES = ["environment.yml", "capacity.yml", "notebook.yml"]
# What each resource type's ARN looks like when the environment templates create it for environment NAME.
R, A = REGION, ACCOUNT
RESOURCE_ARNS = {
    "AWS::CloudFormation::Stack": f"arn:aws:cloudformation:{R}:{A}:stack/neuronlab-env-{NAME}-Capacity-1A2B/uuid",
    "AWS::ECS::Cluster": f"arn:aws:ecs:{R}:{A}:cluster/neuronlab-{NAME}",
    "AWS::ECS::ClusterCapacityProviderAssociations": f"arn:aws:ecs:{R}:{A}:cluster/neuronlab-{NAME}",
    "AWS::ECS::CapacityProvider": f"arn:aws:ecs:{R}:{A}:capacity-provider/neuronlab-{NAME}-capacity",
    "AWS::ECS::TaskDefinition": f"arn:aws:ecs:{R}:{A}:task-definition/neuronlab-{NAME}-notebook:1",
    "AWS::ECS::Service": f"arn:aws:ecs:{R}:{A}:service/neuronlab-{NAME}/notebook",
    "AWS::AutoScaling::AutoScalingGroup":
        f"arn:aws:autoscaling:{R}:{A}:autoScalingGroup:0f1e2d3c:autoScalingGroupName/neuronlab-{NAME}",
    "AWS::AutoScaling::WarmPool":
        f"arn:aws:autoscaling:{R}:{A}:autoScalingGroup:0f1e2d3c:autoScalingGroupName/neuronlab-{NAME}",
    "AWS::EC2::LaunchTemplate": f"arn:aws:ec2:{R}:{A}:launch-template/lt-0123456789abcdef0",
    "AWS::IAM::Role": f"arn:aws:iam::{A}:role/neuronlab-env-{NAME}-notebook",
    "AWS::IAM::InstanceProfile": f"arn:aws:iam::{A}:instance-profile/neuronlab-env-{NAME}-instance",
    "AWS::EFS::FileSystem": f"arn:aws:elasticfilesystem:{R}:{A}:file-system/fs-0123456789abcdef0",
    "AWS::EFS::MountTarget": f"arn:aws:elasticfilesystem:{R}:{A}:file-system/fs-0123456789abcdef0",
    "AWS::EFS::AccessPoint": f"arn:aws:elasticfilesystem:{R}:{A}:access-point/fsap-0123456789abcdef0",
    "AWS::Logs::LogGroup": f"arn:aws:logs:{R}:{A}:log-group:/neuronlab/{NAME}",
    "AWS::ElasticLoadBalancingV2::TargetGroup":
        f"arn:aws:elasticloadbalancing:{R}:{A}:targetgroup/neuronl-Targe-ABC/0123456789abcdef",
    "AWS::ElasticLoadBalancingV2::ListenerRule":
        f"arn:aws:elasticloadbalancing:{R}:{A}:listener-rule/app/neuronlab/0123/4567/89ab",
    "AWS::CloudFront::Function": f"arn:aws:cloudfront::{A}:function/neuronlab-{NAME}-allow-list",
    "AWS::CloudFront::Distribution": f"arn:aws:cloudfront::{A}:distribution/E0123456789ABC",
}
# What a handler's call of another service acts on (PassRole passes the environment's roles, ...).
RELATED_ARNS = {
    "iam": f"arn:aws:iam::{A}:role/neuronlab-env-{NAME}-notebook",
    "ec2": f"arn:aws:ec2:{R}:{A}:subnet/subnet-0123456789abcdef0",
    "ssm": f"arn:aws:ssm:{R}::parameter/aws/service/ecs/optimized-ami/amazon-linux-2023/neuron/recommended/image_id",
    "autoscaling": RESOURCE_ARNS["AWS::AutoScaling::AutoScalingGroup"],
    "cloudfront": f"arn:aws:cloudfront::{A}:vpcorigin/E0123456789ABC",
    "cloudwatch": f"arn:aws:cloudwatch:{R}:{A}:alarm:neuronlab-{NAME}",
    "elasticloadbalancing": "*",  # Describe* has no resource-level permissions
    "ecs": "*",
}
# Permissions (a service, or an action prefix) a schema lists for features the templates do not use, each with
# the reason; the role does not get them. Permissions IAM does not know (absent from cfn-lint's copy of the
# Service Authorization Reference, e.g. managed-fleets:*) cannot be granted and are skipped too.
NOT_NEEDED = {
    "kms": "no KmsKeyId anywhere: EFS and the volumes use AWS managed keys",
    "cognito-idp": "no authenticate-cognito action on the listener rule",
    "firehose": "the log group delivers to no Firehose stream",
    "vpc-lattice": "the group has no VPC Lattice traffic source",
    "ecs:PutAccountSetting": "the cluster changes no account-wide ECS setting, and the stack must not",
    "iam:PutRolePermissionsBoundary": "no role sets PermissionsBoundary; the stack must not change one",
    "iam:DeleteRolePermissionsBoundary": "no role sets PermissionsBoundary; the stack must not lift one",
}


def not_needed(permission: str) -> bool:
    return any(permission.split(":")[0] == key or permission.startswith(key) for key in NOT_NEEDED)


@cache
def _iam_actions() -> dict[str, Any]:
    return json.loads((Path(cfnlint.__file__).parent / "data" / "AdditionalSpecs" / "Policies.json").read_text())


def known_to_iam(permission: str) -> bool:
    service, action = permission.lower().split(":")
    actions = _iam_actions().get(service, {}).get("Actions", {})
    pattern = re.compile(re.escape(action).replace(r"\*", ".*") + "$")
    return any(pattern.match(name) for name in actions)


@cache
def provider_permissions(resource_type: str) -> list[str]:
    schemas = Path(cfnlint.__file__).parent / "data" / "schemas"
    key = json.loads((schemas / "providers" / f"{REGION}.json").read_text())[resource_type]
    handlers = json.loads((schemas / "resources" / f"{key}.json").read_text()).get("handlers", {})
    operations = ("create", "read", "update", "delete")
    return sorted({p for op in operations for p in handlers.get(op, {}).get("permissions", [])})


def _resolve(value: Any) -> Any:
    """The role's policy with pseudo parameters and the artifact bucket filled in."""
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    if isinstance(value, dict):
        if "Fn::Sub" in value:
            text = value["Fn::Sub"]
            return (text.replace("${AWS::Partition}", "aws").replace("${AWS::Region}", REGION)
                    .replace("${AWS::AccountId}", ACCOUNT).replace("${ArtifactBucket.Arn}", "arn:aws:s3:::artifacts"))
        return {k: _resolve(v) for k, v in value.items()}
    return value


def stack_role_policy() -> IAMPolicy:
    role = yaml_parse((ROOT / "template.yaml").read_text())["Resources"]["EnvironmentStackRole"]["Properties"]
    statements = [s for policy in role["Policies"] for s in _resolve(policy["PolicyDocument"])["Statement"]]
    return IAMPolicy(json.dumps({"Version": "2012-10-17", "Statement": statements}))


def environment_resource_types() -> list[str]:
    types = set()
    for name in ENVIRONMENT_TEMPLATES:
        for resource in yaml_parse((ROOT / "nested" / name).read_text())["Resources"].values():
            types.add(resource["Type"])
    return sorted(types)


def target_arn(resource_type: str, permission: str) -> str:
    service = permission.split(":")[0]
    own_service = {"elasticfilesystem": "EFS", "elasticloadbalancing": "ElasticLoadBalancingV2"}.get(
        service, service).lower()
    if resource_type.split("::")[1].lower() == own_service:
        return RESOURCE_ARNS[resource_type]
    return RELATED_ARNS.get(service, f"arn:aws:{service}:{REGION}:{ACCOUNT}:unknown/x")


def missing_permissions(resource_type: str, policy: IAMPolicy) -> list[str]:
    return [f"{p} on {target_arn(resource_type, p)}" for p in provider_permissions(resource_type)
            if not not_needed(p) and known_to_iam(p)
            and policy.is_action_permitted(p, target_arn(resource_type, p)) != PermissionResult.PERMITTED]


@pytest.mark.parametrize("resource_type", environment_resource_types())
def test_the_stack_role_allows_every_handler_permission(resource_type: str) -> None:
    assert resource_type in RESOURCE_ARNS, f"add the ARN {resource_type} resources get to RESOURCE_ARNS"
    assert missing_permissions(resource_type, stack_role_policy()) == []


def test_a_permission_taken_away_is_found() -> None:
    """The check itself: without ecs:TagResource on task definitions, registering one is AccessDenied."""
    role = stack_role_policy()
    document = json.loads(json.dumps(role._policy_json))
    for statement in document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [a for a in actions if a != "ecs:TagResource"] or ["none:None"]
    missing = missing_permissions("AWS::ECS::TaskDefinition", IAMPolicy(json.dumps(document)))
    assert any(m.startswith("ecs:TagResource on arn:aws:ecs:") for m in missing), missing


def test_every_exemption_matches_a_permission_some_schema_lists() -> None:
    listed = [p for t in environment_resource_types() for p in provider_permissions(t)]
    for key in NOT_NEEDED:
        assert any(p.split(":")[0] == key or p.startswith(key) for p in listed), key
    for reason in NOT_NEEDED.values():
        assert len(reason.split()) >= 5


def test_permissions_iam_does_not_know_are_few_and_named() -> None:
    unknown = {p for t in environment_resource_types() for p in provider_permissions(t) if not known_to_iam(p)}
    assert unknown and all(":" in p for p in unknown)
    assert "ecs:TagResource" not in unknown and known_to_iam("ec2:Describe*")


def test_no_exempted_feature_is_used() -> None:
    text = "\n".join((ROOT / "nested" / name).read_text() for name in ENVIRONMENT_TEMPLATES)
    assert not re.search(r"KmsKeyId|authenticate-cognito|DataProtectionPolicy|TrafficSources", text)
