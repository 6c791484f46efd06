"""ECS: the notebook service's health and the benchmark task."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from orchestrator.adapters.aws import client


@dataclass(frozen=True)
class ServiceState:
    desired: int
    running: int


def service_state(cluster: str, service: str) -> ServiceState:
    services = client("ecs").describe_services(cluster=cluster, services=[service])["services"]
    if not services:
        return ServiceState(desired=0, running=0)
    return ServiceState(desired=services[0]["desiredCount"], running=services[0]["runningCount"])


def run_benchmark_task(
    cluster: str, task_definition: str, capacity_provider: str, command: list[str],
    environment: dict[str, str], started_by: str, client_token: str = "",
) -> str:
    """Start the benchmark task on the environment's capacity; returns the task ARN. A repeated client token
    returns the task the first call started instead of starting another."""
    response = client("ecs").run_task(
        **({"clientToken": client_token} if client_token else {}),
        cluster=cluster,
        taskDefinition=task_definition,
        capacityProviderStrategy=[{"capacityProvider": capacity_provider, "weight": 1}],
        startedBy=started_by[:36],
        overrides={
            "containerOverrides": [
                {
                    "name": "benchmark",
                    "command": command,
                    "environment": [{"name": k, "value": v} for k, v in environment.items()],
                }
            ]
        },
    )
    if response.get("failures") or not response.get("tasks"):
        reasons = "; ".join(f"{f.get('arn', '')} {f.get('reason', '')}".strip() for f in response["failures"])
        raise RuntimeError(f"ECS could not place the benchmark task: {reasons or 'no task started'}")
    return response["tasks"][0]["taskArn"]


def host_of_task(cluster: str, task_arn: str) -> dict[str, str]:
    """The availability zone and AMI of the container instance a task ran on: ECS's built-in container instance
    attributes ecs.availability-zone and ecs.ami-id (Amazon ECS developer guide, "Attributes":
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-placement-constraints.html#attributes).
    Empty when the task or its instance is gone: the run is stored without them."""
    ecs = client("ecs")
    try:
        tasks = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"]
        instance = tasks[0].get("containerInstanceArn") if tasks else None
        if not instance:
            return {}
        found = ecs.describe_container_instances(cluster=cluster, containerInstances=[instance])["containerInstances"]
    except ClientError as error:
        if error.response["Error"]["Code"] in ("ClusterNotFoundException", "InvalidParameterException"):
            return {}
        raise
    attributes = {a["name"]: a.get("value") for a in (found[0].get("attributes") or [])} if found else {}
    host = {"availability_zone": attributes.get("ecs.availability-zone"), "ami_id": attributes.get("ecs.ami-id")}
    return {k: v for k, v in host.items() if v}


def stop_task(cluster: str, task_arn: str, reason: str) -> None:
    """Stop a task; one already stopped, or a cluster already gone, is fine."""
    try:
        client("ecs").stop_task(cluster=cluster, task=task_arn, reason=reason[:255])
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("ClusterNotFoundException", "InvalidParameterException",
                                                   "ResourceNotFoundException"):
            raise
