"""`neuronlab doctor`: is this deployment able to start an environment? One check a line, each with its fix.

Everything is read-only: describe calls and iam:SimulatePrincipalPolicy (no environment is created). On
LocalCloud the same calls go to the emulation, which answers SimulatePrincipalPolicy with its own IAM
evaluation (local/localcloud/iam.py).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from neuronlab import permissions
from neuronlab.client import Target

NEURON_AMI = "/aws/service/ecs/optimized-ami/amazon-linux-2023/neuron/recommended/image_id"
ORIGIN_FACING = "com.amazonaws.global.cloudfront.origin-facing"
# EC2 on-demand vCPU quotas by instance family (Service Quotas, service code ec2); new accounts often have 0.
QUOTAS = {"inf": ("L-1945791B", "Running On-Demand Inf instances"),
          "trn": ("L-2C3B7624", "Running On-Demand Trn instances")}
OUTPUTS = ("ApiUrl", "StateMachineArn", "EnvironmentsTableName", "ActivityTableName", "BenchmarksTableName",
           "ArtifactBucketName")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


class Doctor:
    def __init__(self, target: Target, local: bool) -> None:
        self.target, self.local = target, local
        self.client = target.boto3_client

    def run(self) -> list[Check]:
        """Every check; one that cannot even ask (no permission to describe, say) fails with the reason."""
        checks: list[Check] = []
        steps: list[Callable[[], Iterator[Check]]] = [self.stack, self.iam, self.stack_role, self.api_invoke,
                                                       self.neuron_ami, self.default_image,
                                                       self.quotas, self.account_ceilings, self.instance_types,
                                                       self.vpc_origin,
                                                       self.origin_prefix_list]
        for step in steps:
            try:
                checks.extend(step())
            except (ClientError, BotoCoreError, KeyError, StopIteration) as error:
                checks.append(Check(step.__name__.replace("_", "-"), False, f"could not check: {error}",
                                    "run `neuronlab doctor` with credentials that may describe the stack"))
            if step == self.stack and not checks[-1].ok:
                break  # everything else reads the stack
        return checks

    # ------------------------------------------------------------------ the orchestrator stack
    def stack(self) -> Iterator[Check]:
        stack = self.client("cloudformation").describe_stacks(StackName=self.target.stack)["Stacks"][0]
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        self.parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
        resources = self.client("cloudformation").describe_stack_resources(StackName=self.target.stack)
        self.resources = {r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in resources["StackResources"]}
        # LocalCloud serves the API itself: its stack has no API Gateway and no ApiUrl
        missing = [o for o in OUTPUTS if not self.outputs.get(o) and not (self.local and o == "ApiUrl")]
        healthy = stack["StackStatus"].endswith("_COMPLETE") and "ROLLBACK" not in stack["StackStatus"]
        yield Check("stack", healthy and not missing,
                    f"{self.target.stack} {stack['StackStatus']}" + (f", missing outputs {missing}" if missing else ""),
                    "" if healthy and not missing else "sam build && sam deploy (see README, Deploy to AWS)")

    def _deployment(self) -> permissions.Deployment:
        arn = self.outputs["StateMachineArn"]
        image = self.parameters.get("DefaultImageUri") or "neuronlab"
        return permissions.Deployment(
            region=arn.split(":")[3], account=arn.split(":")[4],
            environments_table=self.outputs["EnvironmentsTableName"],
            activity_table=self.outputs["ActivityTableName"],
            benchmarks_table=self.outputs["BenchmarksTableName"], idempotency_table=self.resources["IdempotencyTable"],
            artifact_bucket=self.outputs["ArtifactBucketName"], state_machine_arn=arn,
            shared_network_stack_id=self.resources["SharedNetwork"],
            image_repository=image.split("/", 1)[-1].split("@")[0].split(":")[0])

    # ------------------------------------------------------------------ IAM, per function role
    def iam(self) -> Iterator[Check]:
        deployment = self._deployment()
        stack_role = self.client("iam").get_role(RoleName=self.resources["EnvironmentStackRole"])["Role"]["Arn"]
        passed = permissions.passed_roles(deployment, stack_role)
        for function, wanted in permissions.calls(deployment).items():
            name = self.resources[function]
            role = self.client("lambda").get_function(FunctionName=name)["Configuration"]["Role"]
            denied = self._denied(role, wanted)
            for passed_role, service in passed.get(function, []):
                context = [{"ContextKeyName": "iam:PassedToService", "ContextKeyValues": [service],
                            "ContextKeyType": "string"}]
                denied += self._denied(role, [("iam:PassRole", passed_role)], context)
            allowed = f"{len(wanted)} call{'s' if len(wanted) != 1 else ''} allowed"
            yield Check(f"iam {function}", not denied, "denied: " + "; ".join(denied) if denied else allowed,
                        f"redeploy template.yaml; {function}'s Policies must allow these" if denied else "")

    def stack_role(self) -> Iterator[Check]:
        """The calls CloudFormation's resource handlers make with the environment stack role
        (stack_role_calls.json, generated from the provider schemas by `make docs`), simulated on the role; an
        action without a resource type is simulated on "*", where AWS evaluates it."""
        deployment = self._deployment()
        role = self.client("iam").get_role(RoleName=self.resources["EnvironmentStackRole"])["Role"]["Arn"]
        values = {"${Region}": deployment.region, "${Account}": deployment.account, "${Name}": permissions.PROBE,
                  "${Boundary}": self.resources["EnvironmentRoleBoundary"]}

        def fill(text: str) -> str:
            for placeholder, value in values.items():
                text = text.replace(placeholder, value)
            return text

        by_context: dict[str, list[tuple[str, str]]] = defaultdict(list)
        calls = json.loads(resources.files("neuronlab").joinpath("stack_role_calls.json").read_text())
        for call in calls:
            context = [{"ContextKeyName": key, "ContextKeyValues": [fill(v) for v in values_],
                        "ContextKeyType": "string"} for key, values_ in sorted(call["context"].items())]
            by_context[json.dumps(context)].append((call["action"], fill(call["resource"])))
        denied = [d for context, wanted in by_context.items() for d in self._denied(role, wanted, json.loads(context))]
        yield Check("iam EnvironmentStackRole", not denied,
                    "denied: " + "; ".join(denied) if denied else f"{len(calls)} handler calls allowed",
                    "redeploy template.yaml; EnvironmentStackRole must allow these" if denied else "")

    def api_invoke(self) -> Iterator[Check]:
        """API Gateway must invoke the function through its resource policy: with the caller's credentials
        (`arn:aws:iam::*:user/*`, SAM's AWS_IAM default) every ordinary caller gets a 500."""
        if self.local:
            return  # LocalCloud's API has no API Gateway to read: it invokes as template.yaml's integrations say
        api_id = urlsplit(self.outputs["ApiUrl"]).hostname.split(".")[0]  # type: ignore[union-attr]
        found = self.client("apigateway").get_resources(restApiId=api_id, embed=["methods"], limit=500)["items"]
        methods = [(f"{method} {resource['path']}", spec.get("methodIntegration", {}).get("credentials"))
                   for resource in found for method, spec in (resource.get("resourceMethods") or {}).items()]
        callers = [name for name, credentials in methods if credentials == "arn:aws:iam::*:user/*"]
        yield Check("api-invoke", bool(methods) and not callers,
                    f"{len(methods)} methods invoke through the function's resource policy" if not callers else
                    f"{len(callers)} of {len(methods)} methods invoke with the caller's credentials: "
                    + ", ".join(sorted(callers)[:3]) + ("..." if len(callers) > 3 else ""),
                    "" if not callers else "redeploy template.yaml (Auth: InvokeRole: NONE): callers without "
                                           "lambda:InvokeFunction get a 500")

    def _denied(self, role: str, wanted: list[tuple[str, str]],
                context: list[dict[str, Any]] | None = None) -> list[str]:
        by_resource: dict[str, list[str]] = defaultdict(list)
        for action, resource in wanted:
            by_resource[resource].append(action)
        denied = []
        for resource, actions in by_resource.items():
            answer = self.client("iam").simulate_principal_policy(
                PolicySourceArn=role, ActionNames=sorted(set(actions)), ResourceArns=[resource],
                **({"ContextEntries": context} if context else {}))
            denied += [f"{r['EvalActionName']} on {resource}" for r in answer["EvaluationResults"]
                       if r["EvalDecision"] != "allowed"]
        return denied

    # ------------------------------------------------------------------ what a start needs in the region
    def neuron_ami(self) -> Iterator[Check]:
        found = self.client("ssm").get_parameters(Names=[NEURON_AMI])["Parameters"]
        yield Check("neuron-ami", bool(found), found[0]["Value"] if found else f"{NEURON_AMI} not found",
                    "" if found else "the ECS Neuron AMI is not published in this region: deploy in another")

    def default_image(self) -> Iterator[Check]:
        image = self.parameters.get("DefaultImageUri", "")
        if not image:
            yield Check("default-image", False, "DefaultImageUri is empty: every start must name --image",
                        "sam deploy --parameter-overrides DefaultImageUri=ACCOUNT.dkr.ecr.REGION.amazonaws.com/"
                        "neuronlab:v1")
            return
        repository, _, tag = image.split("/", 1)[1].partition(":")
        try:
            self.client("ecr").describe_images(repositoryName=repository, imageIds=[{"imageTag": tag or "latest"}])
            yield Check("default-image", True, image)
        except ClientError as error:
            yield Check("default-image", False, f"{image}: {error.response['Error']['Code']}",
                        "build and push the image (README, Deploy to AWS, step 1)")

    def quotas(self) -> Iterator[Check]:
        """The vCPU quota of each family this deployment allows (AllowedInstanceTypes; empty: every type), against
        its smallest allowed type."""
        from neuronlab_core import instance_types

        allowed = [t.strip() for t in self.parameters.get("AllowedInstanceTypes", "").split(",") if t.strip()]
        smallest: dict[str, int] = {}
        for name in allowed or instance_types.supported():
            family = name[:3]
            vcpus = instance_types.lookup(name).vcpus
            smallest[family] = min(smallest.get(family, vcpus), vcpus)
        for family, need in sorted(smallest.items()):
            code, name = QUOTAS[family]
            value = self.client("service-quotas").get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"]
            yield Check(f"quota {name}", value >= need, f"{value:g} vCPUs (the smallest allowed instance needs {need})",
                        "" if value >= need else
                        f"Service Quotas console: request '{name}' >= {need} (a start would fail after minutes)")

    def account_ceilings(self) -> Iterator[Check]:
        """How many more environments may hold their stacks before an AWS ceiling refuses the next start."""
        from neuronlab_core import ceilings

        pages = self.client("dynamodb").get_paginator("scan").paginate(
            TableName=self.outputs["EnvironmentsTableName"], ProjectionExpression="#s, stackName",
            ExpressionAttributeNames={"#s": "state"})
        holding = sum(ceilings.holds_stacks(item["state"]["S"], item.get("stackName", {}).get("S"))
                      for page in pages for item in page["Items"])
        left = ceilings.BINDING.environments - holding
        yield Check("account-ceilings", left > 0, f"{holding} environments hold their stacks; {max(left, 0)} more "
                                                   f"can ({ceilings.BINDING.describe()})",
                    "" if left > 0 else "delete environments you no longer need (neuronlab delete NAME)")

    def instance_types(self) -> Iterator[Check]:
        from neuronlab_core import instance_types

        subnets = self._shared_outputs()["InstanceSubnetIds"].split(",")
        zones = {s["AvailabilityZone"] for s in self.client("ec2").describe_subnets(SubnetIds=subnets)["Subnets"]}
        offered = {}
        for name in instance_types.supported():
            found = self.client("ec2").describe_instance_type_offerings(
                LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": [name]}])
            offered[name] = sorted(zones & {o["Location"] for o in found["InstanceTypeOfferings"]})
        missing = [name for name, where in offered.items() if not where]
        yield Check("instance-types", bool(offered.get("inf2.xlarge")),
                    ", ".join(f"{n}: {'/'.join(z) or 'none'}" for n, z in offered.items()),
                    "" if not missing else f"types offered in none of the network's AZs ({', '.join(missing)}) cannot "
                                           "start; choose AvailabilityZones that offer them")

    def _shared_outputs(self) -> dict[str, str]:
        shared = self.client("cloudformation").describe_stacks(StackName=self.resources["SharedNetwork"])["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in shared.get("Outputs", [])}

    # ------------------------------------------------------------------ the shared network's edge
    def vpc_origin(self) -> Iterator[Check]:
        origin = self._shared_outputs().get("VpcOriginId", "")
        if not origin:
            yield Check("vpc-origin", False, "the shared network has no VpcOriginId output", "sam deploy again")
        elif self.local:
            yield Check("vpc-origin", True, f"{origin} (LocalCloud's edge serves it)")
        else:
            status = self.client("cloudfront").get_vpc_origin(Id=origin)["VpcOrigin"]["Status"]
            yield Check("vpc-origin", status == "Deployed", f"{origin} {status}",
                        "" if status == "Deployed" else "wait for CloudFront to finish deploying it (up to 15 min)")

    def origin_prefix_list(self) -> Iterator[Check]:
        """The load balancer admits CloudFront by the region's origin-facing prefix list (nested/shared.yml)."""
        shared = self.client("cloudformation").describe_stack_resources(StackName=self.resources["SharedNetwork"])
        group_id = next(r["PhysicalResourceId"] for r in shared["StackResources"]
                        if r["LogicalResourceId"] == "LoadBalancerSecurityGroup")
        group = self.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        used = {p["PrefixListId"] for rule in group["IpPermissions"] for p in rule.get("PrefixListIds", [])}
        lists = self.client("ec2").describe_managed_prefix_lists(
            Filters=[{"Name": "prefix-list-name", "Values": [ORIGIN_FACING]}])["PrefixLists"]
        actual = lists[0]["PrefixListId"] if lists else "none"
        yield Check("origin-prefix-list", used == {actual}, f"load balancer admits {sorted(used)}; "
                    f"{ORIGIN_FACING} is {actual}",
                    "" if used == {actual} else f"set CloudFrontOriginFacing for this region to {actual} in "
                                                "nested/shared.yml and deploy again")


def describe(checks: list[Check]) -> list[dict[str, Any]]:
    return [asdict(c) for c in checks]
