"""Elastic Load Balancing: the shared listener's rule priorities, and a target group's health."""

from __future__ import annotations

from orchestrator.adapters.aws import client


def used_priorities(listener_arn: str) -> set[int]:
    pages = client("elbv2").get_paginator("describe_rules").paginate(ListenerArn=listener_arn)
    return {int(r["Priority"]) for page in pages for r in page["Rules"] if r["Priority"] != "default"}


def target_health(target_group_arn: str) -> list[str]:
    """Each registered target's state as the load balancer's health checks see it ("healthy", "initial", ...)."""
    descriptions = client("elbv2").describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
    return [d["TargetHealth"]["State"] for d in descriptions]
