"""Elastic Load Balancing: the shared listener's rule priorities."""

from __future__ import annotations

from orchestrator.adapters.aws import client


def used_priorities(listener_arn: str) -> set[int]:
    pages = client("elbv2").get_paginator("describe_rules").paginate(ListenerArn=listener_arn)
    return {int(r["Priority"]) for page in pages for r in page["Rules"] if r["Priority"] != "default"}
