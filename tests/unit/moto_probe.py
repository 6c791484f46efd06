"""Run in a fresh interpreter WITHOUT LocalCloud's patches: report which moto gaps still exist.

Printed as JSON {gap: true/false}; tests/unit/test_moto_canaries.py asserts every gap is still there,
so a moto upgrade that closes one tells us to drop the matching fix in local/localcloud/patches.py.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile

os.environ.update({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"})

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

gaps: dict[str, bool] = {}

with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return {'ok': True}\n")
    function = boto3.client("lambda").create_function(
        FunctionName="f", Runtime="python3.13", Role=role, Handler="app.handler", Code={"ZipFile": archive.getvalue()})
    # 1. Lambda code does not run without Docker
    try:
        response = boto3.client("lambda").invoke(FunctionName="f", Payload=b"{}")
        gaps["lambda_needs_docker"] = response.get("FunctionError") is not None or \
            json.loads(response["Payload"].read() or b"{}") != {"ok": True}
    except Exception:
        gaps["lambda_needs_docker"] = True

    # 2. EventBridge cannot deliver to a Lambda target
    events = boto3.client("events")
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["probe"]}))
    events.put_targets(Rule="r", Targets=[{"Id": "1", "Arn": function["FunctionArn"]}])
    try:
        events.put_events(Entries=[{"Source": "probe", "DetailType": "x", "Detail": "{}"}])
        gaps["events_no_lambda_targets"] = False
    except Exception:
        gaps["events_no_lambda_targets"] = True

    # 3. Fn::GetAtt Child.Outputs.X on a nested stack
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="probe-bucket")
    child = {"Resources": {"T": {"Type": "AWS::SNS::Topic"}},
             "Outputs": {"Name": {"Value": {"Fn::GetAtt": ["T", "TopicName"]}}}}
    s3.put_object(Bucket="probe-bucket", Key="child.json", Body=json.dumps(child).encode())
    parent = {"Resources": {"Child": {"Type": "AWS::CloudFormation::Stack",
                                      "Properties": {"TemplateURL": "https://probe-bucket.s3.amazonaws.com/child.json"}}},
              "Outputs": {"Out": {"Value": {"Fn::GetAtt": ["Child", "Outputs.Name"]}}}}
    cfn = boto3.client("cloudformation")
    try:
        cfn.create_stack(StackName="p", TemplateBody=json.dumps(parent))
        outputs = cfn.describe_stacks(StackName="p")["Stacks"][0].get("Outputs", [])
        gaps["nested_stack_outputs"] = not outputs or not outputs[0].get("OutputValue")
    except Exception:
        gaps["nested_stack_outputs"] = True

    # 4. CloudFormation has no model for CloudFront resources (they are skipped, so GetAtt fails)
    from moto.cloudformation.parsing import get_model_map

    cloudfront = {"AWS::CloudFront::Distribution", "AWS::CloudFront::Function", "AWS::CloudFront::VpcOrigin"}
    gaps["cloudfront_not_in_cloudformation"] = not cloudfront & set(get_model_map())
    gaps["bucket_policy_not_in_cloudformation"] = "AWS::S3::BucketPolicy" not in get_model_map()

    # 5. A state machine created by CloudFormation is invisible to the executing (parser) backend
    machine = {"Resources": {"M": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
        "StateMachineName": "m", "RoleArn": role,
        "DefinitionString": json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}})}}}}
    cfn.create_stack(StackName="sm", TemplateBody=json.dumps(machine))
    names = [m["name"] for m in boto3.client("stepfunctions").list_state_machines()["stateMachines"]]
    gaps["cfn_state_machine_not_executable"] = "m" not in names

    # 6. SendTaskFailure drops its cause
    queue = boto3.client("sqs").create_queue(QueueName="callbacks")["QueueUrl"]
    definition = {"StartAt": "W", "States": {"W": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}}, "End": True}}}
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(name="cb", definition=json.dumps(definition), roleArn=role)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name="cb1")["executionArn"]
    messages = boto3.client("sqs").receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"]
    token = json.loads(messages[0]["Body"])["token"]
    sfn.send_task_failure(taskToken=token, error="E", cause="the cause")
    for _ in range(100):
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            break
        time.sleep(0.05)
    gaps["task_failure_drops_cause"] = described.get("cause") != "the cause"

    # 7. Deleting a stack leaves its ECS service ACTIVE (the LocalCloud agent treats it as gone)
    service_stack = {"Resources": {
        "C": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "c"}},
        "T": {"Type": "AWS::ECS::TaskDefinition", "Properties": {"Family": "t", "ContainerDefinitions": [
            {"Name": "x", "Image": "x", "Memory": 128}]}},
        "S": {"Type": "AWS::ECS::Service", "Properties": {"Cluster": {"Ref": "C"}, "ServiceName": "s",
                                                          "TaskDefinition": {"Ref": "T"}, "DesiredCount": 0}}}}
    cfn.create_stack(StackName="svc", TemplateBody=json.dumps(service_stack))
    cfn.delete_stack(StackName="svc")
    try:
        services = boto3.client("ecs").describe_services(cluster="c", services=["s"])["services"]
        gaps["cfn_delete_keeps_ecs_service"] = any(s["status"] == "ACTIVE" for s in services)
    except Exception:
        gaps["cfn_delete_keeps_ecs_service"] = False

    # 8. A registered target is "healthy" at once: moto runs no health check (the LocalCloud agent does)
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    elbv2 = boto3.client("elbv2")
    group = elbv2.create_target_group(Name="tg", Protocol="HTTP", Port=8888, VpcId=vpc,
                                      HealthCheckPath="/nothing/listens/here")["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": instance, "Port": 1}])  # port 1: nothing there
    health = elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    gaps["elbv2_registered_target_is_healthy"] = health[0]["TargetHealth"]["State"] == "healthy"

    # 9. Ref of a nested stack is its name (AWS: the stack ID)
    parent_ref = {"Resources": {"Child": {"Type": "AWS::CloudFormation::Stack", "Properties": {
        "TemplateURL": "https://probe-bucket.s3.amazonaws.com/child.json"}}},
        "Outputs": {"Ref": {"Value": {"Ref": "Child"}}}}
    cfn.create_stack(StackName="refparent", TemplateBody=json.dumps(parent_ref))
    value = cfn.describe_stacks(StackName="refparent")["Stacks"][0]["Outputs"][0]["OutputValue"]
    gaps["nested_stack_ref_is_name"] = not value.startswith("arn:aws:cloudformation:")

    # 10. A task definition created by CloudFormation loses its task role
    roles = {"Resources": {"T": {"Type": "AWS::ECS::TaskDefinition", "Properties": {
        "Family": "roles", "TaskRoleArn": role, "ContainerDefinitions": [{"Name": "x", "Image": "x", "Memory": 128}]}}}}
    cfn.create_stack(StackName="roles", TemplateBody=json.dumps(roles))
    definition = boto3.client("ecs").describe_task_definition(taskDefinition="roles")["taskDefinition"]
    gaps["cfn_task_definition_drops_roles"] = definition.get("taskRoleArn") != role

    # 13. StopExecution leaves an execution waiting on a task token RUNNING until its next heartbeat
    waiting = {"StartAt": "W", "States": {"W": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "HeartbeatSeconds": 30,
        "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}}, "End": True}}}
    arn = sfn.create_state_machine(name="wait", definition=json.dumps(waiting), roleArn=role)["stateMachineArn"]
    waiter = sfn.start_execution(stateMachineArn=arn, name="w1")["executionArn"]
    boto3.client("sqs").receive_message(QueueUrl=queue, WaitTimeSeconds=5)
    sfn.stop_execution(executionArn=waiter)
    time.sleep(1)
    gaps["stop_execution_waits_for_heartbeat"] = sfn.describe_execution(executionArn=waiter)["status"] == "RUNNING"

    # 12. A security group made by CloudFormation loses an ingress rule's prefix-list source
    pl = boto3.client("ec2").describe_managed_prefix_lists()["PrefixLists"][0]["PrefixListId"]
    sg = {"Resources": {"G": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
        "GroupDescription": "g", "VpcId": vpc, "SecurityGroupIngress": [
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "SourcePrefixListId": pl}]}}}}
    cfn.create_stack(StackName="sg", TemplateBody=json.dumps(sg))
    group_id = cfn.describe_stack_resources(StackName="sg")["StackResources"][0]["PhysicalResourceId"]
    group = boto3.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    permissions = group["IpPermissions"]
    gaps["cfn_security_group_drops_prefix_list"] = not any(p.get("PrefixListIds") for p in permissions)

    # 11. moto's own IAM enforcement checks DynamoDB against "*": a statement scoped to the table's ARN, which
    # AWS honours, is denied (LocalCloud evaluates resources and conditions itself: localcloud.iam)
    from moto.core.authorization import enable_iam_authentication

    boto3.client("dynamodb").create_table(
        TableName="scoped", BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                                     "Action": "sts:AssumeRole"}]}
    scoped = iam.create_role(RoleName="scoped", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName="scoped", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:GetItem",
                                                "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/scoped"}]}))
    credentials = boto3.client("sts").assume_role(RoleArn=scoped, RoleSessionName="probe")["Credentials"]
    as_role = boto3.client("dynamodb", aws_access_key_id=credentials["AccessKeyId"],
                           aws_secret_access_key=credentials["SecretAccessKey"],
                           aws_session_token=credentials["SessionToken"])
    with enable_iam_authentication():
        try:
            as_role.get_item(TableName="scoped", Key={"k": {"S": "x"}})
            gaps["iam_checks_only_star"] = False
        except Exception as error:
            gaps["iam_checks_only_star"] = "AccessDenied" in str(error)

    # 14. A bucket policy's conditions are ignored: a TLS-only Deny (aws:SecureTransport false) denies HTTPS too
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="tls-only")
    s3.put_object(Bucket="tls-only", Key="k", Body=b"x")
    s3.put_bucket_policy(Bucket="tls-only", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::tls-only/*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
    try:
        s3.head_object(Bucket="tls-only", Key="k")
        gaps["bucket_policy_ignores_conditions"] = False
    except Exception:
        gaps["bucket_policy_ignores_conditions"] = True

print(json.dumps(gaps))
