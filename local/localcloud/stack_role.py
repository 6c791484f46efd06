"""What CloudFormation's resource handlers call, and whether a stack role allows it.

The calls come from the CloudFormation resource provider schemas (`handlers.create|read|update|delete
.permissions`), which cfn-lint ships offline. Each permission is checked against the ARN it acts on: the
resource's own ARN for an action of its service (as NeuronLab's templates name it for environment NAME),
else the ARN of the related resource the call names (the environment's roles for iam:PassRole, ...).

Used by tests/infrastructure/test_stack_role.py (every environment resource type against template.yaml's
EnvironmentStackRole) and by LocalCloud's CloudFormation, which fails a stack whose role lacks a permission
its resources need, as AWS does (localcloud.patches).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import cfnlint

from localcloud.iam import decide, evaluated_resource, reference


def resource_arns(region: str, account: str, name: str) -> dict[str, str]:
    """Each resource type's ARN as the environment templates create it for environment `name`."""
    r, a = region, account
    group = f"arn:aws:autoscaling:{r}:{a}:autoScalingGroup:0f1e2d3c:autoScalingGroupName/neuronlab-{name}"
    file_system = f"arn:aws:elasticfilesystem:{r}:{a}:file-system/fs-0123456789abcdef0"
    return {
        "AWS::CloudFormation::Stack": f"arn:aws:cloudformation:{r}:{a}:stack/neuronlab-env-{name}-Capacity-1A2B/uuid",
        "AWS::ECS::Cluster": f"arn:aws:ecs:{r}:{a}:cluster/neuronlab-{name}",
        "AWS::ECS::ClusterCapacityProviderAssociations": f"arn:aws:ecs:{r}:{a}:cluster/neuronlab-{name}",
        "AWS::ECS::CapacityProvider": f"arn:aws:ecs:{r}:{a}:capacity-provider/neuronlab-{name}-capacity",
        "AWS::ECS::TaskDefinition": f"arn:aws:ecs:{r}:{a}:task-definition/neuronlab-{name}-notebook:1",
        "AWS::ECS::Service": f"arn:aws:ecs:{r}:{a}:service/neuronlab-{name}/notebook",
        "AWS::AutoScaling::AutoScalingGroup": group,
        "AWS::AutoScaling::WarmPool": group,
        "AWS::EC2::LaunchTemplate": f"arn:aws:ec2:{r}:{a}:launch-template/lt-0123456789abcdef0",
        "AWS::IAM::Role": f"arn:aws:iam::{a}:role/neuronlab-env-{name}-notebook",
        "AWS::IAM::InstanceProfile": f"arn:aws:iam::{a}:instance-profile/neuronlab-env-{name}-instance",
        "AWS::EFS::FileSystem": file_system,
        "AWS::EFS::MountTarget": file_system,
        "AWS::EFS::AccessPoint": f"arn:aws:elasticfilesystem:{r}:{a}:access-point/fsap-0123456789abcdef0",
        "AWS::Logs::LogGroup": f"arn:aws:logs:{r}:{a}:log-group:/neuronlab/{name}",
        "AWS::ElasticLoadBalancingV2::TargetGroup":
            f"arn:aws:elasticloadbalancing:{r}:{a}:targetgroup/neuronl-Targe-ABC/0123456789abcdef",
        "AWS::ElasticLoadBalancingV2::ListenerRule":
            f"arn:aws:elasticloadbalancing:{r}:{a}:listener-rule/app/neuronlab/0123/4567/89ab",
        "AWS::CloudFront::Function": f"arn:aws:cloudfront::{a}:function/neuronlab-{name}-allow-list",
        "AWS::CloudFront::Distribution": f"arn:aws:cloudfront::{a}:distribution/E0123456789ABC",
    }


def related_arns(region: str, account: str, name: str) -> dict[str, str]:
    """What a handler's call of another service acts on (PassRole passes the environment's roles, ...)."""
    return {
        "iam": f"arn:aws:iam::{account}:role/neuronlab-env-{name}-notebook",
        "ec2": f"arn:aws:ec2:{region}:{account}:subnet/subnet-0123456789abcdef0",
        "ssm": f"arn:aws:ssm:{region}::parameter/aws/service/ecs/optimized-ami/amazon-linux-2023/neuron/recommended/"
               "image_id",
        "autoscaling": resource_arns(region, account, name)["AWS::AutoScaling::AutoScalingGroup"],
        "cloudfront": f"arn:aws:cloudfront::{account}:vpcorigin/E0123456789ABC",
        "cloudwatch": f"arn:aws:cloudwatch:{region}:{account}:alarm:neuronlab-{name}",
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
    # account-wide in IAM (no resource type: they could be granted only on "*"), for log group features unused
    "logs:PutResourcePolicy": "no log group sets ResourcePolicyDocument; account-wide, so never granted",
    "logs:DeleteResourcePolicy": "no log group sets ResourcePolicyDocument; account-wide, so never granted",
    "logs:PutIndexPolicy": "no log group sets FieldIndexPolicies; account-wide, so never granted",
    "logs:DeleteIndexPolicy": "no log group sets FieldIndexPolicies; account-wide, so never granted",
    "logs:CreateLogDelivery": "no log group delivers anywhere (no DeliverySources); account-wide",
    # PutRolePermissionsBoundary is needed (an update puts EnvironmentRoleBoundary on a role created before it)
    "iam:DeleteRolePermissionsBoundary": "every role keeps EnvironmentRoleBoundary; the stack must not lift it",
}


def not_needed(permission: str) -> bool:
    return any(permission.split(":")[0] == key or permission.startswith(key) for key in NOT_NEEDED)


@cache
def _schemas() -> Path:
    return Path(cfnlint.__file__).parent / "data"


@cache
def provider_permissions(resource_type: str, region: str = "us-east-1") -> list[str]:
    key = json.loads((_schemas() / "schemas" / "providers" / f"{region}.json").read_text())[resource_type]
    handlers = json.loads((_schemas() / "schemas" / "resources" / f"{key}.json").read_text()).get("handlers", {})
    operations = ("create", "read", "update", "delete")
    return sorted({p for op in operations for p in handlers.get(op, {}).get("permissions", [])})


def known_to_iam(permission: str) -> bool:
    service, action = permission.lower().split(":")
    actions = reference().get(service, {}).get("Actions", {})
    pattern = re.compile(re.escape(action).replace(r"\*", ".*") + "$")
    return any(pattern.match(name) for name in actions)


def target_arn(resource_type: str, permission: str, region: str, account: str, name: str) -> str:
    service = permission.split(":")[0]
    own_service = {"elasticfilesystem": "EFS", "elasticloadbalancing": "ElasticLoadBalancingV2"}.get(
        service, service).lower()
    if resource_type.split("::")[1].lower() == own_service:
        return resource_arns(region, account, name)[resource_type]
    return related_arns(region, account, name).get(service, f"arn:aws:{service}:{region}:{account}:unknown/x")


def condition_context(properties: dict[str, Any], parameters: dict[str, str]) -> dict[str, list[str]]:
    """The IAM condition keys the handler's calls carry for this resource: for a role, the permissions boundary
    it sets (iam:PermissionsBoundary) and the managed policies it attaches (iam:PolicyARN)."""
    def value(v: Any) -> str:
        if isinstance(v, dict) and "Ref" in v:
            return parameters.get(v["Ref"], "")
        if isinstance(v, dict) and "Fn::Sub" in v:
            return str(v["Fn::Sub"]).replace("${AWS::Partition}", "aws")
        return str(v)

    context = {}
    if "PermissionsBoundary" in properties:
        context["iam:PermissionsBoundary"] = [value(properties["PermissionsBoundary"])]
    if properties.get("ManagedPolicyArns"):
        context["iam:PolicyARN"] = [value(arn) for arn in properties["ManagedPolicyArns"]]
    return context


def needed(resource_type: str, region: str, account: str, name: str,
           context: dict[str, list[str]] | None = None) -> list[tuple[str, str]]:
    """(permission, ARN) each handler call of `resource_type` needs, the ARN as IAM evaluates it ("*" for an
    action without a resource type)."""
    calls = []
    for permission in provider_permissions(resource_type):  # us-east-1's schemas: the same handlers everywhere
        if not_needed(permission) or not known_to_iam(permission):
            continue
        if permission == "iam:AttachRolePolicy" and context is not None and "iam:PolicyARN" not in context:
            continue  # a role that names no managed policy makes no AttachRolePolicy call
        calls.append((permission, evaluated_resource(permission, target_arn(resource_type, permission, region,
                                                                             account, name))))
    return calls


def missing_permissions(resource_type: str, policies: list[dict[str, Any]], region: str, account: str,
                        name: str, context: dict[str, list[str]] | None = None) -> list[str]:
    """The handler permissions of `resource_type` the policies do not allow, as 'action on ARN'."""
    return [f"{permission} on {arn}" for permission, arn in needed(resource_type, region, account, name, context)
            if not decide(policies, permission, arn, context or {})]


# ------------------------------------------------------------------ what `neuronlab doctor` simulates
ENVIRONMENT_TEMPLATES = ("environment.yml", "capacity.yml", "notebook.yml")
# Placeholders doctor fills in from the deployment (cli/neuronlab/stack_role_calls.json)
PLACEHOLDERS = {"region": "${Region}", "account": "${Account}", "name": "${Name}", "boundary": "${Boundary}"}


def environment_resources(root: Path) -> list[tuple[str, dict[str, Any]]]:
    """(type, properties) of every resource the environment's stacks create."""
    from samtranslator.yaml_helper import yaml_parse

    return [(resource["Type"], resource.get("Properties") or {}) for template in ENVIRONMENT_TEMPLATES
            for resource in yaml_parse((root / "nested" / template).read_text())["Resources"].values()]


def doctor_calls(root: Path) -> list[dict[str, Any]]:
    """Every call CloudFormation makes with the stack role for an environment, with placeholders for the
    deployment: [{"action", "resource", "context"}], what `neuronlab doctor` simulates on AWS."""
    calls: dict[str, dict[str, Any]] = {}
    for resource_type, properties in environment_resources(root):
        context = condition_context(properties, {"PermissionsBoundaryArn": PLACEHOLDERS["boundary"]})
        # each AttachRolePolicy call names one managed policy
        contexts = [{**context, "iam:PolicyARN": [arn]} for arn in context["iam:PolicyARN"]] \
            if "iam:PolicyARN" in context else [context]
        for one in contexts:
            for action, arn in needed(resource_type, PLACEHOLDERS["region"], PLACEHOLDERS["account"],
                                      PLACEHOLDERS["name"], one):
                call = {"action": action, "resource": arn, "context": one}
                calls[json.dumps(call, sort_keys=True)] = call
    return [calls[key] for key in sorted(calls)]


if __name__ == "__main__":  # make docs: python -m localcloud.stack_role FILE
    import sys

    Path(sys.argv[1]).write_text(json.dumps(doctor_calls(Path(__file__).resolve().parents[2]), indent=1) + "\n")
