"""LocalCloud's IAM evaluation (local/localcloud/iam.py): the rules AWS applies that moto does not."""

from __future__ import annotations

import pytest

from localcloud.iam import RESOURCES, decide

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/environments"


def policy(*statements: dict) -> list[dict]:
    return [{"Version": "2012-10-17", "Statement": list(statements)}]


def test_a_statement_scoped_to_an_arn_allows_that_arn_only() -> None:
    scoped = policy({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE})
    assert decide(scoped, "dynamodb:GetItem", TABLE, {})
    assert not decide(scoped, "dynamodb:GetItem", TABLE.replace("environments", "other"), {})
    assert not decide(scoped, "dynamodb:PutItem", TABLE, {})


def test_wildcards_in_actions_and_resources_and_action_case() -> None:
    wide = policy({"Effect": "Allow", "Action": ["ecs:Describe*"], "Resource": "arn:aws:ecs:*:*:service/neuronlab-*"})
    assert decide(wide, "ecs:describeservices", "arn:aws:ecs:us-east-1:1:service/neuronlab-a/notebook", {})
    assert not decide(wide, "ecs:DescribeServices", "arn:aws:ecs:us-east-1:1:service/other/notebook", {})


def test_an_explicit_deny_wins() -> None:
    both = policy({"Effect": "Allow", "Action": "*", "Resource": "*"},
                  {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": TABLE})
    assert decide(both, "dynamodb:GetItem", TABLE, {})
    assert not decide(both, "dynamodb:DeleteItem", TABLE, {})


def test_not_action_and_not_resource() -> None:
    negated = policy({"Effect": "Allow", "NotAction": "iam:*", "NotResource": TABLE})
    assert decide(negated, "s3:GetObject", "arn:aws:s3:::bucket/key", {})
    assert not decide(negated, "iam:PassRole", "arn:aws:iam::1:role/r", {})
    assert not decide(negated, "dynamodb:GetItem", TABLE, {})


def test_leading_keys_confine_a_task_to_its_own_record() -> None:
    own = policy({"Effect": "Allow", "Action": "dynamodb:UpdateItem", "Resource": TABLE,
                  "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["alpha"]}}})
    assert decide(own, "dynamodb:UpdateItem", TABLE, {"dynamodb:LeadingKeys": ["alpha"]})
    assert not decide(own, "dynamodb:UpdateItem", TABLE, {"dynamodb:LeadingKeys": ["beta"]})


def test_pass_role_to_the_named_service_only() -> None:
    passing = policy({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/neuronlab-env-*",
                      "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}})
    role = "arn:aws:iam::1:role/neuronlab-env-a-benchmark"
    assert decide(passing, "iam:PassRole", role, {"iam:PassedToService": ["ecs-tasks.amazonaws.com"]})
    assert not decide(passing, "iam:PassRole", role, {"iam:PassedToService": ["lambda.amazonaws.com"]})
    assert not decide(passing, "iam:PassRole", role, {})  # a missing key fails a plain condition


@pytest.mark.parametrize("operator", ["NumericLessThan", "IpAddress"])
def test_an_operator_the_emulation_does_not_know_never_grants(operator: str) -> None:
    unknown = policy({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {operator: {"k": "1"}}})
    assert not decide(unknown, "s3:GetObject", "arn:aws:s3:::b/k", {"k": ["1"]})


def test_resources_of_the_calls_neuronlab_makes() -> None:
    assert RESOURCES[("dynamodb", "Query")]({"TableName": "t", "IndexName": "byKind"}, "us-east-1", "1") \
        == "arn:aws:dynamodb:us-east-1:1:table/t/index/byKind"
    service = RESOURCES[("ecs", "DescribeServices")]({"cluster": "neuronlab-a", "services": ["notebook"]},
                                                     "us-east-1", "1")
    assert service == "arn:aws:ecs:us-east-1:1:service/neuronlab-a/notebook"
    assert RESOURCES[("ecs", "RunTask")]({"taskDefinition": "neuronlab-a-benchmark"}, "us-east-1", "1") \
        == "arn:aws:ecs:us-east-1:1:task-definition/neuronlab-a-benchmark:1"
    assert RESOURCES[("ecs", "DescribeContainerInstances")](
        {"cluster": "neuronlab-a", "containerInstances": ["abc"]}, "us-east-1", "1") \
        == "arn:aws:ecs:us-east-1:1:container-instance/neuronlab-a/abc"


def test_each_part_of_a_transaction_is_authorized_as_the_call_it_stands_for() -> None:
    """TransactWriteItems has no IAM action of its own (DynamoDB developer guide, transaction-apis-iam)."""
    from types import SimpleNamespace

    from localcloud.iam import _transaction

    request = {"TransactItems": [
        {"Put": {"TableName": "benchmarks", "Item": {"series": {"S": "s"}}}},
        {"ConditionCheck": {"TableName": "environments", "Key": {"name": {"S": "alpha"}}}}]}
    checks = _transaction(request, SimpleNamespace(region="us-east-1"), "1")
    assert checks == [("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:1:table/benchmarks", {}),
                      ("dynamodb:ConditionCheckItem", "arn:aws:dynamodb:us-east-1:1:table/environments",
                       {"dynamodb:LeadingKeys": ["alpha"]})]
    writes_only = policy({"Effect": "Allow", "Action": "dynamodb:UpdateItem", "Resource": "*"})
    assert not any(decide(writes_only, action, target, context) for action, target, context in checks)


def test_create_stack_with_tags_is_also_tag_resource() -> None:
    """The Service Authorization Reference's "API operations" table: CreateStack with tags authorizes
    cloudformation:TagResource as well."""
    from localcloud.iam import dependent_actions

    tags = [{"Key": "neuronlab:environment", "Value": "demo"}]
    assert dependent_actions("cloudformation", "CreateStack", {"StackName": "s", "Tags": tags}) \
        == ["cloudformation:TagResource"]
    assert dependent_actions("cloudformation", "CreateStack", {"StackName": "s"}) == []
    assert dependent_actions("cloudformation", "DescribeStacks", {"Tags": tags}) == []


def test_an_action_without_a_resource_type_is_granted_by_star_alone() -> None:
    """cloudfront:CreateFunction has no resource type in the Service Authorization Reference: a statement
    scoped to the function's ARN does not grant it (aws-cdk issue #33249); task-token calls are the exception."""
    function = "arn:aws:cloudfront::1:function/neuronlab-demo-allow-list"
    scoped = policy({"Effect": "Allow", "Action": ["cloudfront:CreateFunction", "cloudfront:UpdateFunction"],
                     "Resource": "arn:aws:cloudfront::1:function/neuronlab-*"})
    assert not decide(scoped, "cloudfront:CreateFunction", function, {})
    assert decide(scoped, "cloudfront:UpdateFunction", function, {})
    assert decide(policy({"Effect": "Allow", "Action": "cloudfront:CreateFunction", "Resource": "*"}),
                  "cloudfront:CreateFunction", function, {})
    machine = "arn:aws:states:us-east-1:1:stateMachine:neuronlab-provision"
    assert decide(policy({"Effect": "Allow", "Action": "states:SendTaskFailure", "Resource": machine}),
                  "states:SendTaskFailure", machine, {})
