"""Fidelity fixes to moto, each one small and each guarded by a canary test (tests/unit/test_moto_canaries.py).

1. Lambda functions run their real handler in-process (moto needs Docker for that).
2. EventBridge rules deliver to Lambda targets (moto supports logs, SQS and buses only).
3. Fn::GetAtt Stack.Outputs.X works for nested stacks (moto lacks get_cfn_attribute there), and Ref of a
   nested stack is its stack ID (an ARN) as on AWS, not its name (IAM statements scoped to it must match).
4. CloudFront resources (VPC origin, function, distribution) exist in CloudFormation (moto has no model for
   them); a distribution's DomainName is LocalCloud's edge (localcloud.edge), which serves its notebook.
5. CloudFormation creates state machines in the backend that executes them (with
   execute_state_machine on, the API uses moto's parser backend; CloudFormation used the other one).
6. SendTaskFailure keeps its `cause` (moto's response handler drops it, so Catch saw no reason).
7. A Lambda function's connections to this machine leave from LAMBDA_SOURCE_ADDRESS, not 127.0.0.1: on AWS a
   function outside a VPC reaches a notebook's CloudFront URL from an AWS address, never from a user's
   allow-list, and the local edge runs the allow-list function with the address it sees.
8. Task definitions created by CloudFormation keep their task role and execution role (moto drops them), so
   a task acts as its task role; security groups keep ingress rules from a prefix list (moto drops the source).
9. The emulated account looks like one AWS would hand NeuronLab: CloudFront's origin-facing prefix list has
   the id AWS publishes for the region (moto makes one up), and EC2 has vCPU quotas for Inf and Trn
   instances (moto knows VPC quotas only).
10. A stack created with a service role (RoleARN) fails, as on AWS, when the role does not allow a call the
   resource handlers of its resources (nested templates included) make: the first such resource gets a
   CREATE_FAILED event naming the permission, the stack ends ROLLBACK_COMPLETE (localcloud.stack_role).
11. StopExecution ends an execution that waits on a task token at once, as on AWS (moto's waits on until the
   next heartbeat, or the step's heartbeat deadline).
12. IAM is enforced as AWS does for NeuronLab's own calls (localcloud.iam): Lambda handlers act as their
   function's role, containers as their task role.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import socket
import threading
import time
import traceback
import uuid
from types import SimpleNamespace
from typing import Any

from moto.awslambda.models import LambdaFunction, lambda_backends
from moto.cloudformation import parsing
from moto.cloudformation.models import Event
from moto.cloudformation.models import Stack as FakeStack
from moto.core.common_models import CloudFormationModel
from moto.ec2.models.security_groups import SecurityGroup
from moto.ecs.models import TaskDefinition
from moto.events.models import Rule
from moto.s3.models import FakeBucket
from moto.servicequotas.models import ServiceQuotasBackend
from moto.stepfunctions.models import StateMachine
from moto.stepfunctions.parser.backend.execution import Execution as ParserExecution
from moto.stepfunctions.responses import StepFunctionResponse
from moto.stepfunctions.responses import get_backend as stepfunctions_backend
from moto.utilities.arns import parse_arn

from localcloud import faults, iam

_log = logging.getLogger("localcloud.lambda")
_applied = False
LAMBDA_SOURCE_ADDRESS = "127.0.0.2"
_create_connection = socket.create_connection


def _lambda_egress(address: Any, timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
                   source_address: Any = None, **kwargs: Any) -> socket.socket:
    """socket.create_connection, from LAMBDA_SOURCE_ADDRESS while a Lambda handler runs (it acts as its role)."""
    local = str(address[0]) in ("127.0.0.1", "localhost")
    if source_address is None and local and iam.ACTING_AS.get() is not None:
        source_address = (LAMBDA_SOURCE_ADDRESS, 0)
    return _create_connection(address, timeout, source_address, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _invoke_in_process(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
    """Run the function's handler from the source tree; an exception becomes a FunctionError
    whose errorType is the exception class name, so ASL ErrorEquals matches it."""
    from orchestrator.settings import FUNCTION_VARIABLES

    payload = json.loads(event) if isinstance(event, str | bytes) else (event or {})
    # Each invocation sees its own function's variables (Globals and its own), as on Lambda: a variable that
    # only another function has is missing here too.
    variables = FUNCTION_VARIABLES.set({**{k: str(v) for k, v in (self.environment_vars or {}).items()},
                                        **faults.active.variables})
    module_name, function_name = str(self.handler).rsplit(".", 1)
    context = SimpleNamespace(
        function_name=self.function_name, function_version="$LATEST", invoked_function_arn=self.function_arn,
        memory_limit_in_mb=int(self.memory_size or 128), aws_request_id=str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{self.function_name}", log_stream_name="localcloud",
        get_remaining_time_in_millis=lambda: int(self.timeout or 3) * 1000,
    )
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
        time.sleep(faults.active.delay.get(function_name, 0))
        if faults.active.take(faults.active.fail_before, function_name):
            raise faults.LambdaTimedOut(f"{function_name} failed before running (injected)")
        with iam.acting_as(str(self.role)):  # every AWS call of the handler is checked against its role
            result = handler(payload, context)
        if faults.active.take(faults.active.time_out_after, function_name):
            raise faults.LambdaTimedOut(f"Task timed out after {self.timeout} seconds (injected, after the work)")
        return json.dumps(result, default=str), False, ""
    except Exception as error:  # the Lambda runtime reports every exception the same way
        _log.warning("%s failed: %s", self.function_name, "".join(traceback.format_exception(error)))
        kind = "Sandbox.Timedout" if isinstance(error, faults.LambdaTimedOut) else type(error).__name__
        body = {"errorType": kind, "errorMessage": str(error),
                "stackTrace": traceback.format_exception(error)[-3:]}
        return json.dumps(body), True, ""
    finally:
        FUNCTION_VARIABLES.reset(variables)


_original_send_to_targets = Rule.send_to_targets


def invoke_async(function_arn: str, event: dict[str, Any]) -> None:
    """Invoke a Lambda function as EventBridge does: asynchronously, not waiting for its result."""
    arn = parse_arn(function_arn)
    function = lambda_backends[arn.account][arn.region].get_function(function_arn)
    threading.Thread(target=function._invoke_lambda, args=(json.dumps(event),), daemon=True).start()


def _send_to_targets(self: Rule, original_event: Any, transform_input: bool = True) -> None:
    lambda_targets = [t for t in self.targets if parse_arn(t["Arn"]).service == "lambda"]
    # A schedule rule has no pattern (moto's empty pattern matches everything): events never trigger it
    # (localcloud.schedules fires it).
    is_schedule = bool(self.scheduled_expression)
    if lambda_targets and not is_schedule and self.event_pattern.matches_event(original_event):
        for target in lambda_targets:
            invoke_async(target["Arn"], original_event)
    others = [t for t in self.targets if t not in lambda_targets]
    if others:
        saved, self.targets = self.targets, others
        try:
            _original_send_to_targets(self, original_event, transform_input)
        finally:
            self.targets = saved


def _stack_get_cfn_attribute(self: FakeStack, attribute_name: str) -> Any:
    key = attribute_name.removeprefix("Outputs.")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (self.outputs or [])}
    if key not in outputs:
        raise KeyError(f"nested stack {self.name} has no output {key}")
    return outputs[key]


# Set by LocalCloud before it deploys anything: where the emulated distributions serve (localcloud.edge).
EDGE_DOMAIN = "localhost"


class _CloudFrontResource:
    """Just enough of a CloudFront resource for CloudFormation: an id, its attributes, create/update/delete.
    (Each concrete class below subclasses CloudFormationModel directly: moto lists direct subclasses only.)"""

    kind = ""  # Distribution, Function, VpcOrigin
    name_property = ""  # the property CloudFormation takes the physical name from, if any

    def __init__(self, name: str, properties: dict[str, Any], account_id: str) -> None:
        self.name, self.properties = name, properties
        self.id = "E" + uuid.uuid4().hex[:13].upper()
        # a named resource (a function) is addressed by its name, the others by their id
        resource = name if self.name_property else self.id
        self.arn = f"arn:aws:cloudfront::{account_id}:{self.kind.lower()}/{resource}"

    @classmethod
    def cloudformation_type(cls) -> str:
        return f"AWS::CloudFront::{cls.kind}"

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.name_property

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    @property
    def physical_resource_id(self) -> str:
        return self.id

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return {"Id": self.id, "Arn": self.arn, "DomainName": EDGE_DOMAIN,
                "FunctionMetadata.FunctionARN": self.arn}.get(attribute_name, self.id)

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,  # type: ignore[override]
                                        region_name: str, **kwargs: Any) -> Any:
        return cls(resource_name, cloudformation_json.get("Properties", {}), account_id)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,  # type: ignore[override]
                                        cloudformation_json: Any, account_id: str, region_name: str) -> Any:
        original_resource.properties = cloudformation_json.get("Properties", {})
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,  # type: ignore[override]
                                        account_id: str, region_name: str) -> None:
        return None


class _Distribution(_CloudFrontResource, CloudFormationModel):
    kind = "Distribution"


class CloudFrontFunction(_CloudFrontResource, CloudFormationModel):
    kind, name_property = "Function", "Name"


class _VpcOrigin(_CloudFrontResource, CloudFormationModel):
    kind = "VpcOrigin"


class _BucketPolicy(CloudFormationModel):
    """AWS::S3::BucketPolicy (moto's CloudFormation has no model; the resource was skipped and broke
    DescribeStackResources): the policy is put on the bucket."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @property
    def physical_resource_id(self) -> str:
        return self.bucket

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,  # type: ignore[override]
                                        region_name: str, **kwargs: Any) -> Any:
        from moto.s3.models import s3_backends

        properties = cloudformation_json["Properties"]
        s3_backends[account_id]["aws"].put_bucket_policy(properties["Bucket"],
                                                         json.dumps(properties["PolicyDocument"]).encode())
        return cls(properties["Bucket"])

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,  # type: ignore[override]
                                        account_id: str, region_name: str) -> None:
        return None


def _bucket_permission(self: FakeBucket, action: str, resource: str) -> Any:
    """A bucket policy decides with its conditions (moto ignores them, so a TLS-only Deny denied every call).
    LocalCloud's S3 calls stand for AWS SDK calls, which are HTTPS: aws:SecureTransport is true."""
    from moto.iam.access_control import PermissionResult

    if self.policy is None:
        return PermissionResult.NEUTRAL
    document = json.loads(self.policy)
    statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
    context = {"aws:SecureTransport": ["true"]}
    if any(s["Effect"] == "Deny" and iam.statement_applies(s, action, resource, context) for s in statements):
        return PermissionResult.DENIED
    if any(s["Effect"] == "Allow" and iam.statement_applies(s, action, resource, context) for s in statements):
        return PermissionResult.PERMITTED
    return PermissionResult.NEUTRAL


_task_definition_create = TaskDefinition.create_from_cloudformation_json
_task_definition_update = TaskDefinition.update_from_cloudformation_json


def _with_roles(definition: Any, cloudformation_json: Any) -> Any:
    properties = cloudformation_json.get("Properties", {})
    definition.task_role_arn = properties.get("TaskRoleArn")
    definition.execution_role_arn = properties.get("ExecutionRoleArn")
    return definition


def _task_definition_from_cloudformation(cls: type, resource_name: str, cloudformation_json: Any, *args: Any,
                                         **kwargs: Any) -> Any:
    created = _task_definition_create.__func__(cls, resource_name, cloudformation_json, *args, **kwargs)  # type: ignore[attr-defined]
    return _with_roles(created, cloudformation_json)


def _task_definition_updated(cls: type, original: Any, name: str, cloudformation_json: Any, *args: Any) -> Any:
    updated = _task_definition_update.__func__(cls, original, name, cloudformation_json, *args)  # type: ignore[attr-defined]
    return _with_roles(updated, cloudformation_json)


_security_group_create = SecurityGroup.create_from_cloudformation_json


def _security_group_from_cloudformation(cls: type, resource_name: str, cloudformation_json: Any, account_id: str,
                                        region_name: str, **kwargs: Any) -> Any:
    from moto.ec2.models import ec2_backends

    properties = cloudformation_json.get("Properties", {})
    ingress = properties.get("SecurityGroupIngress", [])
    from_lists = [r for r in ingress if "SourcePrefixListId" in r]
    rest = {**cloudformation_json,
            "Properties": {**properties, "SecurityGroupIngress": [r for r in ingress if r not in from_lists]}}
    group = _security_group_create.__func__(cls, resource_name, rest, account_id, region_name, **kwargs)  # type: ignore[attr-defined]
    for rule in from_lists:
        ec2_backends[account_id][region_name].authorize_security_group_ingress(
            group_name_or_id=group.id, ip_protocol=rule["IpProtocol"], from_port=rule["FromPort"],
            to_port=rule["ToPort"], ip_ranges=[], prefix_list_ids=[{"PrefixListId": rule["SourcePrefixListId"]}],
            vpc_id=properties.get("VpcId"))
    return group


_create_resources = FakeStack.create_resources


def _templates_of(stack: FakeStack) -> list[dict[str, Any]]:
    """The stack's template and those of the nested stacks its parameters point to (uploaded to S3)."""
    from moto.s3.models import s3_backends
    from samtranslator.yaml_helper import yaml_parse

    templates = [stack.template_dict]
    for value in (stack.parameters or {}).values():
        match = re.match(r"https://([^.]+)\.s3[.\w-]*\.amazonaws\.com/(.+)$", str(value))
        if match:
            key = s3_backends[stack.account_id]["aws"].get_object(match.group(1), match.group(2))
            if key is not None:
                templates.append(yaml_parse(key.value.decode()))
    return templates


def _create_resources_as_role(self: FakeStack) -> None:
    """CloudFormation acts through the stack's role: a handler call the role does not allow fails the stack."""
    from localcloud import stack_role

    if self.role_arn:
        name = (self.parameters or {}).get("EnvironmentName", self.name)
        policies = iam.role_policies(self.account_id, self.role_arn)
        for template in _templates_of(self):
            for logical_id, resource in template.get("Resources", {}).items():
                context = stack_role.condition_context(resource.get("Properties") or {}, self.parameters or {})
                missing = stack_role.missing_permissions(resource["Type"], policies, self.region_name,
                                                         self.account_id, name, context)
                if missing:
                    reason = (f"Resource handler returned message: \"User: {self.role_arn} is not authorized to "
                              f"perform: {missing[0]}\" (HandlerErrorCode: AccessDenied)")
                    self.events.append(Event(self.stack_id, self.name, logical_id, "", resource["Type"],
                                             "CREATE_FAILED", reason, None))
                    self._add_stack_event("ROLLBACK_COMPLETE")
                    self.status = "ROLLBACK_COMPLETE"
                    return
    _create_resources(self)


_stop_execution = ParserExecution.stop


def _stop_waking_callbacks(self: Any, *args: Any, **kwargs: Any) -> Any:
    """Stop, then wake every task-token wait of the execution so its worker sees the stop now. moto's worker
    builds its environment in its own thread: a stop right after the start (AWS takes it) found none and raised
    AttributeError, so the stop waits for it, briefly."""
    worker = getattr(self, "exec_worker", None)
    deadline = time.monotonic() + 5
    while worker is not None and worker.env is None and time.monotonic() < deadline:
        time.sleep(0.01)
    result = _stop_execution(self, *args, **kwargs)
    if worker is not None:
        for endpoint in list(worker.env.callback_pool_manager._pool.values()):
            heartbeat = getattr(endpoint, "_heartbeat_endpoint", None)
            if heartbeat is not None:
                heartbeat.notify()
            endpoint._notify_event.set()
    return result


def _state_machine_from_cloudformation(cls: type, resource_name: str, cloudformation_json: Any,
                                       account_id: str, region_name: str, **kwargs: Any) -> Any:
    properties = cloudformation_json["Properties"]
    tags = [{"key": t["Key"], "value": t["Value"]} for t in properties.get("Tags", [])]
    return stepfunctions_backend(account_id, region_name).create_state_machine(
        properties.get("StateMachineName", resource_name), properties.get("DefinitionString", ""),
        properties.get("RoleArn", ""), tags=tags,
    )


def _send_task_failure(self: StepFunctionResponse) -> Any:
    from moto.core.responses import EmptyResult

    self.stepfunction_backend.send_task_failure(  # the executing (parser) backend takes a cause
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause"))  # type: ignore[call-arg]
    return EmptyResult()


# SendTaskSuccess's output is at most 262144 bytes (UTF-8), as a task's or state's input and output are (Step
# Functions API reference, SendTaskSuccess: https://docs.aws.amazon.com/step-functions/latest/apireference/
# API_SendTaskSuccess.html); moto takes any size, AWS answers ValidationException.
MAX_PAYLOAD_BYTES = 262144
_moto_send_task_success = StepFunctionResponse.send_task_success


def _send_task_success(self: StepFunctionResponse) -> Any:
    from moto.core.exceptions import JsonRESTError

    size = len((self._get_param("output") or "").encode())
    if size > MAX_PAYLOAD_BYTES:
        raise JsonRESTError("ValidationException", "1 validation error detected: Value at 'output' failed to "
                            f"satisfy constraint: Member must have length less than or equal to {MAX_PAYLOAD_BYTES}")
    return _moto_send_task_success(self)


# An account granted Neuron capacity (a new account often has 0: `neuronlab doctor` says so on AWS).
EC2_QUOTAS = {"L-1945791B": ("Running On-Demand Inf instances", 128.0),
              "L-2C3B7624": ("Running On-Demand Trn instances", 128.0)}
_get_service_quota = ServiceQuotasBackend.get_service_quota


def _service_quota(self: ServiceQuotasBackend, service_code: str, quota_code: str) -> dict[str, Any]:
    if service_code == "ec2" and quota_code in EC2_QUOTAS:
        name, value = EC2_QUOTAS[quota_code]
        return {"ServiceCode": "ec2", "QuotaCode": quota_code, "QuotaName": name, "Value": value, "Unit": "None",
                "Adjustable": True, "GlobalQuota": False}
    return _get_service_quota(self, service_code, quota_code)


def published_prefix_list(account: str, region: str, published_id: str) -> None:
    """Give the emulated CloudFront origin-facing prefix list the id AWS publishes (nested/shared.yml)."""
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[account][region]
    for current_id, prefix_list in list(backend.managed_prefix_lists.items()):
        if prefix_list.prefix_list_name == "com.amazonaws.global.cloudfront.origin-facing":
            prefix_list.id = published_id
            prefix_list.prefix_list_arn = prefix_list.arn(region, prefix_list.owner_id)
            backend.managed_prefix_lists[published_id] = backend.managed_prefix_lists.pop(current_id)


def apply() -> None:
    global _applied
    if _applied:
        return
    LambdaFunction._invoke_lambda = _invoke_in_process  # type: ignore[method-assign]
    socket.create_connection = _lambda_egress  # type: ignore[assignment]
    Rule.send_to_targets = _send_to_targets  # type: ignore[method-assign]
    FakeStack.get_cfn_attribute = _stack_get_cfn_attribute  # type: ignore[attr-defined]
    FakeStack.create_resources = _create_resources_as_role  # type: ignore[method-assign]
    FakeStack.physical_resource_id = property(lambda self: self.stack_id)  # type: ignore[method-assign,assignment]
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()  # the CloudFront and bucket policy models above join moto's CloudFormation models
    StepFunctionResponse.send_task_failure = _send_task_failure  # type: ignore[method-assign]
    StepFunctionResponse.send_task_success = _send_task_success  # type: ignore[method-assign]
    StateMachine.create_from_cloudformation_json = classmethod(_state_machine_from_cloudformation)  # type: ignore
    TaskDefinition.create_from_cloudformation_json = classmethod(_task_definition_from_cloudformation)  # type: ignore
    TaskDefinition.update_from_cloudformation_json = classmethod(_task_definition_updated)  # type: ignore
    SecurityGroup.create_from_cloudformation_json = classmethod(_security_group_from_cloudformation)  # type: ignore
    ServiceQuotasBackend.get_service_quota = _service_quota  # type: ignore[method-assign]
    ParserExecution.stop = _stop_waking_callbacks  # type: ignore[method-assign]
    FakeBucket.get_permission = _bucket_permission  # type: ignore[method-assign]
    iam.apply()
    _applied = True
