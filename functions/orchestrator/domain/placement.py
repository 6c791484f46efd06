"""Where an environment's instance may run: subnets of the shared network whose AZ offers its type.

EC2 answers InsufficientInstanceCapacity per AZ; the workflow then retries in the AZs not yet tried.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass

from orchestrator.errors import CapacityUnavailable

MAX_RULE_PRIORITY = 50000


@dataclass(frozen=True)
class Placement:
    subnets: list[str]
    zones: list[str]


def choose(instance_type: str, subnet_zones: dict[str, str], offered: set[str],
           exclude: set[str] = frozenset()) -> Placement:  # type: ignore[assignment]
    """Subnets whose AZ offers the type and has not failed for capacity, in the shared network's order."""
    usable = {s: z for s, z in subnet_zones.items() if z in offered and z not in exclude}
    if not usable:
        network = ", ".join(sorted(set(subnet_zones.values()))) or "none"
        if exclude and any(z in offered for z in subnet_zones.values()):
            raise CapacityUnavailable(
                f"instanceType: no capacity for {instance_type} in any AZ of the NeuronLab network "
                f"(tried {', '.join(sorted(exclude))}); try again later or another instance type")
        raise CapacityUnavailable(
            f"instanceType: {instance_type} is not offered in the NeuronLab network's AZs ({network}); it is "
            f"offered in {', '.join(sorted(offered)) or 'no AZ of this region'} — redeploy the orchestrator "
            f"with AvailabilityZones that include them")
    return Placement(subnets=list(usable), zones=sorted(set(usable.values())))


def capacity_failures(activities: list[dict[str, str]]) -> set[str]:
    """AZs where launches failed for lack of capacity, from Auto Scaling activities: the AZ is in the
    activity's Details JSON; the message reads "We currently do not have sufficient <type> capacity...",
    the error EC2 calls InsufficientInstanceCapacity."""
    zones = set()
    for activity in activities:
        message = activity.get("StatusMessage") or ""
        if activity.get("StatusCode") != "Failed" or not (
                "InsufficientInstanceCapacity" in message or "do not have sufficient" in message):
            continue
        with contextlib.suppress(ValueError):
            zone = json.loads(activity.get("Details") or "{}").get("Availability Zone")
            if zone:
                zones.add(zone)
    return zones


def rule_priority(environment: str, used: set[int]) -> int:
    """A listener-rule priority for the environment: stable for its name, the next free one on collision."""
    start = int(hashlib.sha256(environment.encode()).hexdigest(), 16) % MAX_RULE_PRIORITY
    for step in range(MAX_RULE_PRIORITY):
        candidate = (start + step) % MAX_RULE_PRIORITY + 1
        if candidate not in used:
            return candidate
    raise CapacityUnavailable("the shared listener has no free rule priority (50000 environments)")
