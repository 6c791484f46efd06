"""The environment's compute: its Auto Scaling group and the notebook's ECS service."""

from __future__ import annotations

from botocore.exceptions import ClientError

from orchestrator.adapters.aws import client

_NO_SERVICE = ("ServiceNotFoundException", "ClusterNotFoundException", "ServiceNotActiveException")


def scale_to_zero(group: str, cluster: str, service: str, missing_ok: bool = False) -> bool:
    """Service to 0 first (no task restarts), then the group to 0 with scale-in protection lifted,
    so managed termination protection cannot keep an instance running.

    missing_ok: a service or group not created yet (a start that failed early) is nothing to release.
    Returns whether a group was there to scale."""
    try:
        client("ecs").update_service(cluster=cluster, service=service, desiredCount=0)
    except ClientError as error:
        if not (missing_ok and error.response["Error"]["Code"] in _NO_SERVICE):
            raise
    autoscaling = client("autoscaling")
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    if not groups and missing_ok:
        return False
    instances = [i["InstanceId"] for g in groups for i in g.get("Instances", [])]
    if instances:
        autoscaling.set_instance_protection(AutoScalingGroupName=group, InstanceIds=instances,
                                            ProtectedFromScaleIn=False)
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=group, MinSize=0, DesiredCapacity=0)
    return True


def groups_with_capacity(prefix: str) -> dict[str, int]:
    """{group name: desired capacity} of every Auto Scaling group named prefix* that has capacity."""
    pages = client("autoscaling").get_paginator("describe_auto_scaling_groups").paginate()
    return {g["AutoScalingGroupName"]: g["DesiredCapacity"] for page in pages for g in page["AutoScalingGroups"]
            if g["AutoScalingGroupName"].startswith(prefix) and g["DesiredCapacity"] > 0}


def scale_up(group: str, cluster: str, service: str) -> None:
    client("autoscaling").update_auto_scaling_group(AutoScalingGroupName=group, DesiredCapacity=1)
    client("ecs").update_service(cluster=cluster, service=service, desiredCount=1)


def recent_activities(group: str) -> list[dict]:
    """The group's latest scaling activities; none while the group does not exist yet."""
    try:
        return client("autoscaling").describe_scaling_activities(AutoScalingGroupName=group,
                                                                 MaxRecords=20)["Activities"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ValidationError":
            return []
        raise


def use_subnets(group: str, subnets: list[str]) -> None:
    """Launch only in these subnets from now on (the retry in other AZs after a capacity failure)."""
    client("autoscaling").update_auto_scaling_group(AutoScalingGroupName=group,
                                                    VPCZoneIdentifier=",".join(subnets))


def force_delete(group: str, cluster: str, service: str) -> None:
    """Before a stack delete: no task, and the group gone with its instances, protected or not, so
    CloudFormation never waits on an instance that scale-in protection keeps alive."""
    try:
        client("ecs").update_service(cluster=cluster, service=service, desiredCount=0)
    except ClientError as error:
        if error.response["Error"]["Code"] not in _NO_SERVICE:
            raise
    try:
        client("autoscaling").delete_auto_scaling_group(AutoScalingGroupName=group, ForceDelete=True)
    except ClientError as error:
        if "not found" not in error.response["Error"]["Message"].lower():
            raise
