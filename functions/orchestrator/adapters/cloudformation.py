"""CloudFormation: the environment's stack (parent of the network, capacity and notebook stacks)."""

from __future__ import annotations

from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from orchestrator.adapters.aws import client

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


@dataclass(frozen=True)
class StackState:
    status: str | None  # None: no such stack
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def settled(self) -> bool:
        return self.status is not None and not self.status.endswith("_IN_PROGRESS")

    @property
    def succeeded(self) -> bool:
        return self.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE")


def describe(name: str) -> StackState:
    try:
        stack = client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in error.response["Error"]["Message"]:
            return StackState(status=None)
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return StackState(status=stack["StackStatus"], outputs=outputs)


def deploy(name: str, template_url: str, parameters: dict[str, str], tags: dict[str, str],
           role_arn: str) -> str:
    """Create the stack, or update it when it exists. Returns CREATE, UPDATE or NONE (nothing changed)."""
    cfn = client("cloudformation")
    params = [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]
    tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
    current = describe(name)
    if current.status == "ROLLBACK_COMPLETE":  # a failed first create cannot be updated, only replaced
        cfn.delete_stack(StackName=name)
        # within the deploy function's 300 s timeout
        cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 50})
        current = StackState(status=None)
    if current.status in (None, "DELETE_COMPLETE"):
        cfn.create_stack(
            StackName=name, TemplateURL=template_url, Parameters=params, Tags=tag_list,
            Capabilities=CAPABILITIES, OnFailure="ROLLBACK", RoleARN=role_arn,
        )
        return "CREATE"
    try:
        cfn.update_stack(
            StackName=name, TemplateURL=template_url, Parameters=params, Tags=tag_list,
            Capabilities=CAPABILITIES, RoleARN=role_arn,
        )
    except ClientError as error:
        if "No updates are to be performed" in error.response["Error"]["Message"]:
            return "NONE"
        raise
    return "UPDATE"


def failure_reason(name: str) -> str:
    """The first failed resource event's reason (the root cause; later ones are cancellations)."""
    events = client("cloudformation").describe_stack_events(StackName=name)["StackEvents"]
    for event in reversed(events):  # API returns newest first
        reason = event.get("ResourceStatusReason") or ""
        if event["ResourceStatus"].endswith("_FAILED") and "cancelled" not in reason.lower():
            return f"{event['LogicalResourceId']} ({event['ResourceType']}): {reason}"
    return "the stack failed without a resource failure event; see the CloudFormation console"


def delete(name: str, role_arn: str) -> None:
    client("cloudformation").delete_stack(StackName=name, RoleARN=role_arn)
