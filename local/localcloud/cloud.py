"""One LocalCloud in this process: emulation, orchestrator stack, agent, AWS endpoint and REST API."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto import mock_aws
from moto.server import ThreadedMotoServer
from samtranslator.yaml_helper import yaml_parse

from localcloud import deploy, images, patches, schedules
from localcloud.agent import Agent
from localcloud.apigateway import ApiServer
from localcloud.edge import Edge

REGION = "us-east-1"
ACCOUNT = "123456789012"
LOCAL_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{images.REPOSITORY}:latest"
# The person at this machine (`neuronlab ... --local` signs as this IAM user), and who counts as an admin.
YOU = "you"
ADMINS = f"arn:aws:iam::{ACCOUNT}:user/admin-*"

# What the handlers see in-process; the emulation needs no real credentials.
PROCESS_ENV = {
    "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "localcloud", "AWS_SECRET_ACCESS_KEY": "localcloud",
    "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
    # Globals every function shares, which Powertools reads once per process; each invocation's own variables
    # come through orchestrator.settings.FUNCTION_VARIABLES (patches._invoke_in_process)
    "POWERTOOLS_SERVICE_NAME": "neuronlab", "POWERTOOLS_METRICS_NAMESPACE": "NeuronLab",
}


@dataclass
class LocalCloud:
    state_dir: Path
    poll_seconds: int = 1
    aws_port: int = 0
    api_port: int = 0
    serve_aws: bool = True
    parameters: dict[str, str] = field(default_factory=dict)  # template parameters over LocalCloud's own
    # how much faster than the wall LocalCloud's schedules run (localcloud.schedules); 0: they never fire
    clock_speed: float = 1.0

    def start(self) -> LocalCloud:
        os.environ.update(PROCESS_ENV)
        os.environ.pop("AWS_ENDPOINT_URL", None)
        patches.apply()
        schedules.apply()
        from orchestrator.adapters import aws

        aws.reset()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # CloudFront + the shared load balancer: HTTPS on localhost, routed to the agent's notebooks
        self.edge = Edge(self.state_dir, route=lambda environment: self.agent.route(environment),
                         viewer_function=lambda environment: self.agent.viewer_function(environment))
        self.edge.start()
        patches.EDGE_DOMAIN = self.edge.domain
        os.environ["NEURONLAB_NOTEBOOK_CA_FILE"] = str(self.edge.ca_file)  # in-process clients trust the edge
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        self._moto_server: ThreadedMotoServer | None = None
        self.aws_endpoint = ""
        if self.serve_aws:
            self.aws_port = self.aws_port or patches.free_port()
            self._moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.aws_port, verbose=False)
            self._moto_server.start()
            self.aws_endpoint = f"http://127.0.0.1:{self.aws_port}"
        prefix_lists = yaml_parse((deploy.ROOT / "nested" / "shared.yml").read_text())["Mappings"]
        patches.published_prefix_list(ACCOUNT, REGION, prefix_lists["CloudFrontOriginFacing"][REGION]["PrefixListId"])
        template = deploy.translate()
        self.outputs = deploy.deploy({
            "StackPollSeconds": str(self.poll_seconds), "NotebookPollSeconds": str(self.poll_seconds),
            "DefaultImageUri": LOCAL_IMAGE,
            # the test suites run many environments side by side, most of them as one person
            "MaxRunningEnvironments": "100", "MaxEnvironmentsPerCaller": "100",
            "AdminPrincipals": ADMINS, **self.parameters,
        }, template, region=REGION)
        self.people: dict[str, dict[str, str]] = {}
        self.person(YOU)
        self.put_local_image()  # the deployment's default image, so `neuronlab start --local` just works
        self.agent = Agent(self.state_dir, self.aws_endpoint, region=REGION, account=ACCOUNT)
        self.agent.start()
        self.api = ApiServer(template, "ApiFunction", self.function_name("ApiFunction"), self.api_port, region=REGION)
        self.api.start()
        self.scheduler = schedules.Scheduler(ACCOUNT, REGION, self.clock_speed)
        self.scheduler.start()
        return self

    def person(self, name: str, may_invoke: bool = True) -> dict[str, str]:
        """An IAM user of the emulation with an access key (and execute-api:Invoke unless told otherwise):
        {"arn", "accessKeyId", "secretAccessKey"}. A name starting with admin- is an admin (ADMINS)."""
        if name not in self.people:
            import boto3

            iam = boto3.client("iam", region_name=REGION)
            arn = iam.create_user(UserName=name)["User"]["Arn"]
            if may_invoke:
                iam.put_user_policy(UserName=name, PolicyName="use-neuronlab", PolicyDocument=json.dumps({
                    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
                                                            "Resource": "arn:aws:execute-api:*:*:*/v1/*"}]}))
            key = iam.create_access_key(UserName=name)["AccessKey"]
            self.people[name] = {"arn": arn, "accessKeyId": key["AccessKeyId"],
                                 "secretAccessKey": key["SecretAccessKey"]}
        return self.people[name]

    def function_name(self, logical_id: str) -> str:
        import boto3

        resources = boto3.client("cloudformation", region_name=REGION).describe_stack_resources(
            StackName=deploy.STACK_NAME, LogicalResourceId=logical_id)["StackResources"]
        return resources[0]["PhysicalResourceId"]

    def put_local_image(self, tag: str = "latest") -> str:
        import boto3

        return images.put_image(boto3.client("ecr", region_name=REGION), tag)

    def status(self) -> dict[str, Any]:
        return {"apiUrl": self.api.url, "awsEndpoint": self.aws_endpoint, "region": REGION,
                "person": self.person(YOU),
                "caFile": str(self.edge.ca_file),
                "outputs": self.outputs, "processes": self.agent.pids(), "agentErrors": self.agent.errors}

    def stop(self) -> None:
        self.scheduler.stop()
        self.agent.stop()
        self.api.stop()
        self.edge.stop()
        if self._moto_server is not None:
            self._moto_server.stop()
        self._mock.stop()
