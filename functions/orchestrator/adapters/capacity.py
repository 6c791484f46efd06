"""The environment's compute: its Auto Scaling group and the notebook's ECS service."""

from __future__ import annotations

from orchestrator.adapters.aws import client


def scale_to_zero(group: str, cluster: str, service: str) -> None:
    """Service to 0 first (no task restarts), then the group to 0 with scale-in protection lifted,
    so managed termination protection cannot keep an instance running."""
    client("ecs").update_service(cluster=cluster, service=service, desiredCount=0)
    autoscaling = client("autoscaling")
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    instances = [i["InstanceId"] for g in groups for i in g.get("Instances", [])]
    if instances:
        autoscaling.set_instance_protection(AutoScalingGroupName=group, InstanceIds=instances,
                                            ProtectedFromScaleIn=False)
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=group, MinSize=0, DesiredCapacity=0)


def scale_up(group: str, cluster: str, service: str) -> None:
    client("autoscaling").update_auto_scaling_group(AutoScalingGroupName=group, DesiredCapacity=1)
    client("ecs").update_service(cluster=cluster, service=service, desiredCount=1)
