"""Placement: AZs that offer the instance type, the retry in another AZ after a capacity failure,
and the shared listener's rule priorities."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from orchestrator.adapters import ec2, elbv2
from orchestrator.adapters.dynamodb import EnvironmentStore
from orchestrator.domain import placement, provisioning
from orchestrator.errors import CapacityUnavailable
from orchestrator.models.record import record_from_item
from orchestrator.settings import settings
from tests.helpers import workflow_state

SUBNETS = {"subnet-a": "us-east-1a", "subnet-b": "us-east-1b", "subnet-c": "us-east-1c"}


def test_only_subnets_in_zones_that_offer_the_type_are_used() -> None:
    chosen = placement.choose("trn1.2xlarge", SUBNETS, offered={"us-east-1c", "us-east-1f"})
    assert chosen.subnets == ["subnet-c"] and chosen.zones == ["us-east-1c"]


def test_no_offering_in_the_network_names_the_field_and_where_it_is_offered() -> None:
    with pytest.raises(CapacityUnavailable, match=r"instanceType: trn1.2xlarge is not offered .*us-east-1f"):
        placement.choose("trn1.2xlarge", {"subnet-a": "us-east-1a"}, offered={"us-east-1c", "us-east-1f"})


def test_zones_that_ran_out_of_capacity_are_skipped_until_none_is_left() -> None:
    offered = {"us-east-1a", "us-east-1b", "us-east-1c"}
    assert placement.choose("inf2.xlarge", SUBNETS, offered, exclude={"us-east-1a"}).subnets == ["subnet-b", "subnet-c"]
    with pytest.raises(CapacityUnavailable, match="no capacity for inf2.xlarge .*tried us-east-1a, us-east-1b"):
        placement.choose("inf2.xlarge", SUBNETS, offered, exclude={"us-east-1a", "us-east-1b", "us-east-1c"})


def _activity(zone: str, code: str = "Failed", message: str = "We currently do not have sufficient inf2.xlarge "
              "capacity in the Availability Zone you requested") -> dict:
    return {"StatusCode": code, "StatusMessage": message, "StartTime": datetime.now(UTC),
            "Details": json.dumps({"Subnet ID": "subnet-x", "Availability Zone": zone})}


def test_capacity_failures_are_read_from_scaling_activities() -> None:
    activities = [_activity("us-east-1a"), _activity("us-east-1b", code="Successful", message="Launching"),
                  _activity("us-east-1c", message="InsufficientInstanceCapacity"),
                  _activity("us-east-1f", message="You are not authorized")]
    assert placement.capacity_failures(activities) == {"us-east-1a", "us-east-1c"}


def test_rule_priority_is_stable_and_steps_over_used_ones() -> None:
    first = placement.rule_priority("demo", set())
    assert first == placement.rule_priority("demo", set())
    assert 1 <= first <= placement.MAX_RULE_PRIORITY
    assert placement.rule_priority("demo", {first}) == first % placement.MAX_RULE_PRIORITY + 1


def _network() -> dict[str, str]:
    client = boto3.client("ec2")
    vpc = client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return {client.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]:
            zone for i, zone in enumerate(["us-east-1a", "us-east-1b", "us-east-1c"])}


def test_offerings_and_subnet_zones_come_from_ec2(tables: dict[str, str]) -> None:
    subnets = _network()
    assert ec2.subnet_zones(list(subnets)) == subnets
    # moto's offering data: trn1.2xlarge in us-east-1c and us-east-1f only
    assert {"us-east-1c", "us-east-1f"} <= ec2.offered_zones("trn1.2xlarge")
    assert "us-east-1a" not in ec2.offered_zones("trn1.2xlarge")


def test_used_priorities_are_read_from_the_listener(tables: dict[str, str]) -> None:
    subnets = list(_network())
    lb = boto3.client("elbv2")
    balancer = lb.create_load_balancer(Name="shared", Subnets=subnets[:2], Scheme="internal")["LoadBalancers"][0]
    listener = lb.create_listener(LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                  DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
                                      "StatusCode": "404"}}])["Listeners"][0]["ListenerArn"]
    group = lb.create_target_group(Name="t", Protocol="HTTP", Port=8888,
                                   VpcId=boto3.client("ec2").describe_subnets(SubnetIds=subnets[:1])[
                                       "Subnets"][0]["VpcId"])["TargetGroups"][0]["TargetGroupArn"]
    lb.create_rule(ListenerArn=listener, Priority=7, Actions=[{"Type": "forward", "TargetGroupArn": group}],
                   Conditions=[{"Field": "path-pattern", "Values": ["/demo/*"]}])
    assert elbv2.used_priorities(listener) == {7}


def test_a_capacity_failure_moves_the_group_to_the_other_zones(tables: dict[str, str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an environment placed in three AZs, whose group could not launch in us-east-1a
    subnets = _network()
    template = boto3.client("ec2").create_launch_template(
        LaunchTemplateName="lt", LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "inf2.xlarge"})
    autoscaling = boto3.client("autoscaling")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="neuronlab-demo", MinSize=0, MaxSize=1, DesiredCapacity=0,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplate"]["LaunchTemplateId"]},
        VPCZoneIdentifier=",".join(subnets))
    since = datetime.now(UTC) - timedelta(minutes=1)
    EnvironmentStore(settings().environments_table).create(record_from_item({
        "name": "demo", "state": "PROVISIONING", "instanceType": "inf2.xlarge", "image": "x",
        "createdAt": since.isoformat(), "updatedAt": since.isoformat(),
        "placement": {"subnetZones": subnets, "excluded": [], "since": since.isoformat()}}))
    # A fake stands in for Auto Scaling's activity history: moto records no failed launches.
    failures = [_activity("us-east-1a")]
    monkeypatch.setattr(provisioning.capacity, "recent_activities", lambda group: failures)
    request = workflow_state()
    record = EnvironmentStore(settings().environments_table).get("demo")

    # When the notebook check sees it
    detail = provisioning._retry_elsewhere_after_capacity_failure(request, record)

    # Then the group launches only in the other AZs, and the record remembers the failed one
    assert detail == "no capacity in us-east-1a: retrying in us-east-1b, us-east-1c"
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["neuronlab-demo"])["AutoScalingGroups"][0]
    assert set(group["VPCZoneIdentifier"].split(",")) == {s for s, z in subnets.items() if z != "us-east-1a"}
    record = EnvironmentStore(settings().environments_table).get("demo")
    assert record.placement is not None and record.placement.excluded == ["us-east-1a"]
    # the same failure again changes nothing; failures before this placement do not count
    assert provisioning._retry_elsewhere_after_capacity_failure(request, record) == ""
    failures[:] = [_activity("us-east-1b") | {"StartTime": since - timedelta(hours=1)}]
    assert provisioning._retry_elsewhere_after_capacity_failure(request, record) == ""
    # and when every AZ has failed, the step fails with the reason
    failures[:] = [_activity("us-east-1b"), _activity("us-east-1c")]
    with pytest.raises(CapacityUnavailable, match="no capacity for inf2.xlarge"):
        provisioning._retry_elsewhere_after_capacity_failure(request, record)
