"""The AWS quotas each environment holding its stacks (stopped ones too) takes a share of, until one edge serves
every environment: the API refuses a start past them, `neuronlab doctor` reports the headroom.

Sources (docs/aws-facts.md): CloudFront developer guide, "Quotas" (distributions associated with the same VPC
origin: 50, not adjustable; CloudFront Functions per account: 100); Elastic Load Balancing, "Quotas for your
Application Load Balancers" (target groups per load balancer: 100); Amazon EFS, "Quotas" (mount targets per VPC:
400; an environment's file system has one in each of the network's three zones).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ceiling:
    what: str
    limit: int
    per_environment: int
    adjustable: bool

    @property
    def environments(self) -> int:
        return self.limit // self.per_environment

    def describe(self) -> str:
        return (f"AWS allows {self.limit} {self.what} ({'adjustable' if self.adjustable else 'not adjustable'}) "
                f"and each environment takes {self.per_environment}")


CEILINGS = (
    Ceiling("distributions associated with one CloudFront VPC origin", 50, 1, False),
    Ceiling("CloudFront Functions per account", 100, 1, True),
    Ceiling("target groups per load balancer", 100, 1, False),
    Ceiling("EFS mount targets per VPC", 400, 3, False),
)
# The first of them an account reaches
BINDING = min(CEILINGS, key=lambda ceiling: ceiling.environments)


def holds_stacks(state: str, stack_name: str | None) -> bool:
    """Whether an environment's stacks exist or are being created (what the ceilings count)."""
    return state != "DELETED" and (bool(stack_name) or state == "PROVISIONING")
