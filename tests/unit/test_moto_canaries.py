"""Canaries for LocalCloud's fidelity fixes to moto (local/localcloud/patches.py).

Each upstream gap is probed in a fresh interpreter without the fixes. When a moto upgrade closes a
gap, its canary fails: drop the matching fix. The fixed behaviour is asserted below and, end to end,
by tests/workflow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud import patches

PROBE = Path(__file__).with_name("moto_probe.py")


@pytest.fixture(scope="module")
def upstream_gaps() -> dict[str, bool]:
    done = subprocess.run([sys.executable, str(PROBE)], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("gap", ["lambda_needs_docker", "events_no_lambda_targets", "nested_stack_outputs",
                                 "cloudfront_not_in_cloudformation", "cfn_state_machine_not_executable",
                                 "task_failure_drops_cause", "cfn_delete_keeps_ecs_service",
                                 "elbv2_registered_target_is_healthy", "nested_stack_ref_is_name",
                                 "cfn_task_definition_drops_roles", "iam_checks_only_star",
                                 "cfn_security_group_drops_prefix_list", "stop_execution_waits_for_heartbeat",
                                 "bucket_policy_not_in_cloudformation", "bucket_policy_ignores_conditions"])
def test_upstream_moto_still_has_the_gap(upstream_gaps: dict[str, bool], gap: str) -> None:
    assert upstream_gaps[gap], f"moto closed '{gap}': remove its fix from localcloud/patches.py"


def test_patched_moto_resolves_nested_outputs_cloudfront_and_state_machines(aws_env: None) -> None:
    patches.apply()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="canary-bucket")
        child = {"Resources": {"T": {"Type": "AWS::SNS::Topic"}},
                 "Outputs": {"Name": {"Value": {"Fn::GetAtt": ["T", "TopicName"]}}}}
        s3.put_object(Bucket="canary-bucket", Key="child.json", Body=json.dumps(child).encode())
        parent = {"Resources": {
            "Child": {"Type": "AWS::CloudFormation::Stack",
                      "Properties": {"TemplateURL": "https://canary-bucket.s3.amazonaws.com/child.json"}},
            "M": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
                "StateMachineName": "m", "RoleArn": "arn:aws:iam::123456789012:role/r",
                "DefinitionString": json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}})}}},
            "Outputs": {"Out": {"Value": {"Fn::GetAtt": ["Child", "Outputs.Name"]}}}}
        cfn = boto3.client("cloudformation")
        cfn.create_stack(StackName="p", TemplateBody=json.dumps(parent))
        outputs = cfn.describe_stacks(StackName="p")["Stacks"][0]["Outputs"]
        assert outputs[0]["OutputValue"]  # the child's topic name
        assert "m" in [m["name"] for m in boto3.client("stepfunctions").list_state_machines()["stateMachines"]]

        distribution = {"Resources": {
            "F": {"Type": "AWS::CloudFront::Function", "Properties": {"Name": "f", "FunctionCode": "x"}},
            "D": {"Type": "AWS::CloudFront::Distribution", "Properties": {"DistributionConfig": {
                "FunctionAssociations": [{"FunctionARN": {"Fn::GetAtt": ["F", "FunctionMetadata.FunctionARN"]}}]}}}},
            "Outputs": {"Url": {"Value": {"Fn::Sub": "https://${D.DomainName}/"}},
                        "Function": {"Value": {"Fn::GetAtt": ["F", "FunctionMetadata.FunctionARN"]}}}}
        patches.EDGE_DOMAIN = "localhost:8443"
        cfn.create_stack(StackName="cf", TemplateBody=json.dumps(distribution))
        stack = cfn.describe_stacks(StackName="cf")["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        assert outputs["Url"] == "https://localhost:8443/"
        assert outputs["Function"].startswith("arn:aws:cloudfront::") and outputs["Function"].endswith(":function/f")


def test_patched_bucket_policies_decide_with_their_conditions(aws_env: None) -> None:
    """TLS-only lets LocalCloud's (HTTPS-standing) calls through; a Deny without a condition still denies."""
    patches.apply()
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="tls-bucket")
        s3.put_object(Bucket="tls-bucket", Key="k", Body=b"x")
        deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::tls-bucket/*"}
        tls_only = {**deny, "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        s3.put_bucket_policy(Bucket="tls-bucket", Policy=json.dumps({"Version": "2012-10-17", "Statement": [tls_only]}))
        assert s3.head_object(Bucket="tls-bucket", Key="k")["ContentLength"] == 1
        s3.put_bucket_policy(Bucket="tls-bucket", Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny]}))
        with pytest.raises(ClientError):
            s3.head_object(Bucket="tls-bucket", Key="k")
