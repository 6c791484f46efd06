"""Monthly cost, computed from the templates' resources and the price tables: the orchestrator with no
environment, one stopped environment, one running environment per instance type, and the original pattern.

Every resource type in the templates needs a rule here (a price, or the reason it has no fixed cost):
a new type without one makes `resource_lines` fail, so docs/cost.md cannot silently drift.
`python -m neuronlab_tools.cost [--write docs/cost.md]`; tests/unit/test_cost.py fails when the page is stale.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from neuronlab_core import instance_types

ROOT = Path(__file__).resolve().parents[2]
HOURS_PER_MONTH = 730
WEEKS_PER_MONTH = HOURS_PER_MONTH / 168
REGION = "us-east-1"
TYPES_IN_DOC = ("inf2.xlarge", "inf2.8xlarge", "inf2.24xlarge", "trn1.2xlarge")

# Billed per request, invocation or GB moved (or a few cents of storage): nothing by the hour.
PER_USE = {
    "AWS::Serverless::Function": "Lambda: per invocation",
    "AWS::Serverless::LayerVersion": "a few MB of layer storage",
    "AWS::Serverless::StateMachine": "Step Functions: per state transition",
    "AWS::Serverless::Api": "API Gateway: per request",
    "AWS::DynamoDB::Table": "on-demand: per request, storage of a few KB",
    "AWS::S3::Bucket": "a few template files",
    "AWS::IAM::Role": "free",
    "AWS::IAM::InstanceProfile": "free",
    "AWS::IAM::ManagedPolicy": "free",
    "AWS::S3::BucketPolicy": "free",
    "AWS::CloudFormation::Stack": "free (its resources are counted)",
    "AWS::EC2::VPC": "free",
    "AWS::EC2::InternetGateway": "free",
    "AWS::EC2::VPCGatewayAttachment": "free",
    "AWS::EC2::RouteTable": "free",
    "AWS::EC2::Route": "free",
    "AWS::EC2::Subnet": "free",
    "AWS::EC2::SubnetRouteTableAssociation": "free",
    "AWS::EC2::SecurityGroup": "free",
    "AWS::EC2::LaunchTemplate": "free (the group's volume is counted)",
    "AWS::ElasticLoadBalancingV2::Listener": "free (the load balancer is counted)",
    "AWS::ElasticLoadBalancingV2::ListenerRule": "free",
    "AWS::ElasticLoadBalancingV2::TargetGroup": "free",
    "AWS::CloudFront::VpcOrigin": "no charge",
    "AWS::CloudFront::Distribution": "per request and GB out",
    "AWS::CloudFront::Function": "per invocation",
    "AWS::ECS::Cluster": "free with Container Insights off",
    "AWS::ECS::CapacityProvider": "free",
    "AWS::ECS::ClusterCapacityProviderAssociations": "free",
    "AWS::ECS::TaskDefinition": "free",
    "AWS::ECS::Service": "free (EC2 launch type: the instance is counted)",
    "AWS::EFS::MountTarget": "free",
    "AWS::EFS::AccessPoint": "free",
    "AWS::Logs::LogGroup": "per GB ingested and stored (30-day retention)",
}


@cache
def prices() -> dict[str, float]:
    return json.loads(Path(__file__).with_name("prices.json").read_text())


@dataclass(frozen=True)
class Usage:
    hours_per_day: float = 8
    days_per_week: float = 5
    idle_minutes: float = 60  # the idle limit: the tail billed after each working day
    home_gb: float = 5

    @property
    def running_hours(self) -> float:
        return self.days_per_week * WEEKS_PER_MONTH * (self.hours_per_day + self.idle_minutes / 60)


@dataclass(frozen=True)
class Resource:
    logical_id: str
    kind: str
    properties: dict[str, Any]
    condition: str | None = None


@dataclass(frozen=True)
class Line:
    item: str
    monthly_usd: float
    basis: str


@dataclass(frozen=True)
class Scenario:
    """What is being priced: the instance type and how many hours a month it runs."""

    instance_type: str = "inf2.xlarge"
    running_hours: float = 0.0
    home_gb: float = Usage().home_gb
    public_instance_address: bool = True  # public subnets instead of a NAT gateway
    conditions: frozenset[str] = frozenset()  # template conditions that hold (e.g. UseWarmPool)


def _volume_gb(resources: list[Resource]) -> int:
    for resource in resources:
        if resource.kind == "AWS::EC2::LaunchTemplate":
            mappings = resource.properties["LaunchTemplateData"].get("BlockDeviceMappings", [])
            return sum(int(m["Ebs"]["VolumeSize"]) for m in mappings if "Ebs" in m)
    return 30  # the ECS-optimized AMI's default root volume


Rule = Callable[[Resource, Scenario, list[Resource]], list[Line]]


def _load_balancer(r: Resource, s: Scenario, _: list[Resource]) -> list[Line]:
    p = prices()
    lines = [Line(r.logical_id, p["alb_per_hour"] * HOURS_PER_MONTH, "load balancer hour")]
    if r.properties.get("Scheme", "internet-facing") == "internet-facing":
        addresses = len(r.properties.get("Subnets", [])) or 2
        lines.append(Line(f"{r.logical_id} public IPv4 x{addresses}",
                          addresses * p["public_ipv4_per_hour"] * HOURS_PER_MONTH, "public IPv4 hour"))
    return lines


def _nat_gateway(r: Resource, s: Scenario, _: list[Resource]) -> list[Line]:
    p = prices()
    return [Line(r.logical_id, (p["nat_gateway_per_hour"] + p["public_ipv4_per_hour"]) * HOURS_PER_MONTH,
                 "NAT gateway hour + its public IPv4")]


def _file_system(r: Resource, s: Scenario, _: list[Resource]) -> list[Line]:
    return [Line(f"{r.logical_id} ({s.home_gb:g} GB)", s.home_gb * prices()["efs_standard_per_gb_month"],
                 "EFS Standard GB-month")]


def _secret(r: Resource, s: Scenario, _: list[Resource]) -> list[Line]:
    return [Line(r.logical_id, prices()["secret_per_month"], "secret-month")]


def _auto_scaling_group(r: Resource, s: Scenario, resources: list[Resource]) -> list[Line]:
    if not s.running_hours:
        return []
    p = prices()
    hourly = instance_types.lookup(s.instance_type).hourly_usd(REGION) or 0.0
    volume = _volume_gb(resources)
    lines = [Line(f"{s.instance_type} x {s.running_hours:.0f} h", hourly * s.running_hours, "on-demand hour"),
             Line(f"root volume {volume} GB gp3", volume * p["gp3_per_gb_month"] * s.running_hours / HOURS_PER_MONTH,
                  "gp3 GB-month, while the instance exists")]
    if s.public_instance_address:
        lines.append(Line("instance public IPv4", p["public_ipv4_per_hour"] * s.running_hours, "public IPv4 hour"))
    return lines


def _warm_pool(r: Resource, s: Scenario, resources: list[Resource]) -> list[Line]:
    stopped_hours = HOURS_PER_MONTH - s.running_hours
    volume = _volume_gb(resources)
    return [Line(f"warm pool: stopped instance's {volume} GB volume",
                 volume * prices()["gp3_per_gb_month"] * stopped_hours / HOURS_PER_MONTH, "gp3 GB-month")]


RULES: dict[str, Rule] = {
    "AWS::ElasticLoadBalancingV2::LoadBalancer": _load_balancer,
    "AWS::EC2::NatGateway": _nat_gateway,
    "AWS::EFS::FileSystem": _file_system,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::AutoScaling::AutoScalingGroup": _auto_scaling_group,
    "AWS::AutoScaling::WarmPool": _warm_pool,
}


class UnpricedResource(Exception):
    """A template has a resource type the cost model has no rule for."""


def resource_lines(resources: list[Resource], scenario: Scenario) -> list[Line]:
    lines: list[Line] = []
    for resource in resources:
        if resource.condition and resource.condition not in scenario.conditions:
            continue
        rule = RULES.get(resource.kind)
        if rule is None and resource.kind not in PER_USE:
            raise UnpricedResource(f"{resource.kind} ({resource.logical_id}): add a rule to neuronlab_tools.cost")
        lines.extend(rule(resource, scenario, resources) if rule else [])
    return lines


def read_template(path: Path) -> list[Resource]:
    from samtranslator.yaml_helper import yaml_parse  # dev tooling: reads !Ref and friends

    template = yaml_parse(path.read_text())
    return [Resource(name, r["Type"], r.get("Properties", {}), r.get("Condition"))
            for name, r in template["Resources"].items()]


def orchestrator() -> list[Resource]:
    return read_template(ROOT / "template.yaml") + read_template(ROOT / "nested" / "shared.yml")


def environment() -> list[Resource]:
    # The token secret is created by the deploy step (it outlives stack updates), not by a template.
    token = Resource("token secret (deploy step)", "AWS::SecretsManager::Secret", {})
    return read_template(ROOT / "nested" / "capacity.yml") + read_template(ROOT / "nested" / "notebook.yml") + [token]


def original_pattern() -> list[Resource]:
    """The pattern as the seed describes it (its templates are not in the seed): the large-VPC pattern's
    network with a NAT gateway in each of two AZs, an internet-facing load balancer, one Inferentia instance
    always on with the ECS-optimized AMI's 30 GB root volume, EFS /home and the token secret."""
    return [Resource("NatGateway1", "AWS::EC2::NatGateway", {}), Resource("NatGateway2", "AWS::EC2::NatGateway", {}),
            Resource("LoadBalancer", "AWS::ElasticLoadBalancingV2::LoadBalancer",
                     {"Scheme": "internet-facing", "Subnets": ["a", "b"]}),
            Resource("AutoScalingGroup", "AWS::AutoScaling::AutoScalingGroup", {}),
            Resource("FileSystem", "AWS::EFS::FileSystem", {}),
            Resource("Secret", "AWS::SecretsManager::Secret", {})]


def total(lines: Iterable[Line]) -> float:
    return round(sum(line.monthly_usd for line in lines), 2)


@dataclass(frozen=True)
class Summary:
    orchestrator_idle: list[Line]
    stopped: list[Line]
    stopped_warm_pool: list[Line]
    rows: list[tuple[str, float, float, float, float]]  # type, original, running all month, trace, saving


def summarize(usage: Usage = Usage()) -> Summary:
    env, orch, original = environment(), orchestrator(), original_pattern()
    stopped = Scenario(home_gb=usage.home_gb)
    rows = []
    for name in TYPES_IN_DOC:
        # the original pattern's instances sit in private subnets behind its NAT gateways
        always = total(resource_lines(original, Scenario(name, HOURS_PER_MONTH, usage.home_gb,
                                                         public_instance_address=False)))
        full = total(resource_lines(env, Scenario(name, HOURS_PER_MONTH, usage.home_gb)))
        trace = total(resource_lines(env, Scenario(name, usage.running_hours, usage.home_gb)))
        rows.append((name, always, full, trace, 1 - trace / always))
    return Summary(
        orchestrator_idle=resource_lines(orch, stopped),
        stopped=resource_lines(env, stopped),
        stopped_warm_pool=resource_lines(env, Scenario(home_gb=usage.home_gb, conditions=frozenset({"UseWarmPool"}))),
        rows=rows,
    )


def _items(lines: list[Line]) -> str:
    return "; ".join(f"{line.item} ${line.monthly_usd:,.2f}" for line in lines) or "nothing"


def markdown(usage: Usage = Usage()) -> str:
    s = summarize(usage)
    return "\n".join([
        f"List prices {REGION}, on-demand, USD a month of {HOURS_PER_MONTH} h. Usage trace: "
        f"{usage.hours_per_day:g} h a day, {usage.days_per_week:g} days a week, idle limit "
        f"{usage.idle_minutes:g} min ({usage.running_hours:.0f} h running a month), {usage.home_gb:g} GB in /home.",
        "",
        "| what | per month | billed items |",
        "|---|---|---|",
        f"| orchestrator, no environment | ${total(s.orchestrator_idle):,.2f} | {_items(s.orchestrator_idle)} |",
        f"| one stopped environment | ${total(s.stopped):,.2f} | {_items(s.stopped)} |",
        f"| one stopped environment, warm pool on | ${total(s.stopped_warm_pool):,.2f} | "
        f"{_items(s.stopped_warm_pool)} |",
        "",
        "| instance type | original pattern, always on | NeuronLab environment running all month "
        "| NeuronLab environment, usage trace | saving on the trace |",
        "|---|---|---|---|---|",
        *(f"| {name} | ${always:,.2f} | ${full:,.2f} | ${trace:,.2f} | {saving:.0%} |"
          for name, always, full, trace, saving in s.rows),
    ]) + "\n"


def write(page: Path) -> None:
    """Replace the table between the cost-table markers of a Markdown page."""
    start, end = "<!-- cost-table:start -->\n", "<!-- cost-table:end -->"
    text = page.read_text()
    before, rest = text.split(start, 1)
    page.write_text(before + start + markdown() + end + rest.split(end, 1)[1])


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--write"]:
        write(Path(sys.argv[2]))
    else:
        print(markdown(), end="")
