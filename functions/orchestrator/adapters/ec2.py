"""EC2: which AZs offer an instance type, and the AZ of each subnet of the shared network."""

from __future__ import annotations

from orchestrator.adapters.aws import client


def offered_zones(instance_type: str) -> set[str]:
    pages = client("ec2").get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": [instance_type]}])
    return {o["Location"] for page in pages for o in page["InstanceTypeOfferings"]}


def subnet_zones(subnet_ids: list[str]) -> dict[str, str]:
    """Subnet -> AZ, in the order given."""
    subnets = client("ec2").describe_subnets(SubnetIds=subnet_ids)["Subnets"]
    zones = {s["SubnetId"]: s["AvailabilityZone"] for s in subnets}
    return {s: zones[s] for s in subnet_ids}
