"""Who may talk to whom, derived from the templates: every path the notebook needs is open, and nothing else.

viewer -> CloudFront (HTTPS) -> VPC origin -> internal load balancer :80 -> task's dynamic host port on the
instance -> (task) EFS :2049, and AWS APIs (ECR, Secrets Manager, DynamoDB, Logs, ECS) over :443.
"""

from __future__ import annotations

from typing import Any

from samtranslator.yaml_helper import yaml_parse

from tests.conftest import ROOT

SHARED = yaml_parse((ROOT / "nested" / "shared.yml").read_text())
NOTEBOOK = yaml_parse((ROOT / "nested" / "notebook.yml").read_text())["Resources"]
GROUPS = {name: r["Properties"] for name, r in SHARED["Resources"].items() if r["Type"] == "AWS::EC2::SecurityGroup"}
EPHEMERAL = (32768, 65535)  # Docker's host ports for `HostPort: 0` in bridge mode


def rules(group: str, direction: str) -> list[dict[str, Any]]:
    return GROUPS[group].get(f"SecurityGroup{direction}", [])


def source(rule: dict[str, Any]) -> str:
    if "SourceSecurityGroupId" in rule:
        return rule["SourceSecurityGroupId"]["Ref"]
    if "SourcePrefixListId" in rule:
        return "cloudfront-origin-facing"
    return rule.get("CidrIp", "?")


def admits(group: str, direction: str, port: int, peer: str) -> bool:
    return any(r["FromPort"] <= port <= r["ToPort"] and source(r) == peer for r in rules(group, direction))


def test_the_load_balancer_admits_cloudfront_only_on_the_origin_port() -> None:
    origin = SHARED["Resources"]["NotebookOrigin"]["Properties"]["VpcOriginEndpointConfig"]
    listener = SHARED["Resources"]["Listener"]["Properties"]
    assert origin["HTTPPort"] == listener["Port"] == 80 and origin["OriginProtocolPolicy"] == "http-only"
    ingress = rules("LoadBalancerSecurityGroup", "Ingress")
    assert [(source(r), r["FromPort"], r["ToPort"]) for r in ingress] == [("cloudfront-origin-facing", 80, 80)]
    prefix = ingress[0]["SourcePrefixListId"]["Fn::FindInMap"]
    assert prefix[0] == "CloudFrontOriginFacing"
    assert all(v["PrefixListId"].startswith("pl-") for v in SHARED["Mappings"]["CloudFrontOriginFacing"].values())


def test_the_vpc_origin_waits_for_the_internet_gateway() -> None:
    assert SHARED["Resources"]["NotebookOrigin"]["DependsOn"] == "GatewayAttachment"


def test_the_load_balancer_reaches_every_host_port_a_task_can_get() -> None:
    mapping = NOTEBOOK["NotebookTaskDefinition"]["Properties"]["ContainerDefinitions"][0]["PortMappings"][0]
    assert mapping["HostPort"] == 0  # dynamic: Docker picks from the ephemeral range
    low, high = EPHEMERAL
    assert admits("InstanceSecurityGroup", "Ingress", low, "LoadBalancerSecurityGroup")
    assert admits("InstanceSecurityGroup", "Ingress", high, "LoadBalancerSecurityGroup")
    assert any(r["FromPort"] <= low and high <= r["ToPort"] for r in rules("LoadBalancerSecurityGroup", "Egress"))
    group = NOTEBOOK["TargetGroup"]["Properties"]
    assert group["HealthCheckPort"] == "traffic-port"  # the check follows the dynamic port


def test_home_is_reachable_from_the_instances_only() -> None:
    assert [(source(r), r["FromPort"]) for r in rules("FileSystemSecurityGroup", "Ingress")] \
        == [("InstanceSecurityGroup", 2049)]
    assert any(r["FromPort"] == 2049 for r in rules("InstanceSecurityGroup", "Egress"))


def test_the_instances_reach_aws_apis_over_tls() -> None:
    """ECR pulls, Secrets Manager (the token), DynamoDB (the sidecar), Logs, ECS: public endpoints, no NAT."""
    egress = rules("InstanceSecurityGroup", "Egress")
    assert any(r["FromPort"] == 443 and r.get("CidrIp") == "0.0.0.0/0" for r in egress)


def test_nothing_is_open_to_the_internet() -> None:
    for name in GROUPS:
        assert all(r.get("CidrIp") != "0.0.0.0/0" and r.get("CidrIpv6") is None for r in rules(name, "Ingress")), name
    assert SHARED["Resources"]["LoadBalancer"]["Properties"]["Scheme"] == "internal"
