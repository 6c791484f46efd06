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


def stop_task(cluster: str, task_arn: str, reason: str) -> None:
    """Stop a task; one already stopped, or a cluster already gone, is fine."""
    try:
        client("ecs").stop_task(cluster=cluster, task=task_arn, reason=reason[:255])
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("ClusterNotFoundException", "InvalidParameterException",
                                                   "ResourceNotFoundException"):
            raise
