"""The API client: LocalCloud (plain HTTP on localhost) or the deployed API (SigV4-signed)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.credentials import Credentials

from neuronlab import local
from neuronlab.signing import SigV4


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body
        details = "; ".join(body.get("details") or [])
        super().__init__(f"{body.get('message', 'request failed')}{': ' + details if details else ''} (HTTP {status})")


@dataclass
class Target:
    api_url: str
    region: str
    aws_endpoint: str | None = None  # LocalCloud's emulated AWS
    stack: str = "neuronlab"
    # LocalCloud: the keys of a person in the emulated IAM; None: your AWS credentials (boto3's chain)
    person: dict[str, str] | None = None

    def function_name(self, logical_id: str) -> str:
        resource = self.boto3_client("cloudformation").describe_stack_resource(
            StackName=self.stack, LogicalResourceId=logical_id)["StackResourceDetail"]
        return resource["PhysicalResourceId"]

    def boto3_client(self, service: str) -> Any:
        if self.aws_endpoint:
            return boto3.client(service, region_name=self.region, endpoint_url=self.aws_endpoint,
                                aws_access_key_id="localcloud",
                                aws_secret_access_key="localcloud")  # noqa: S106 (the emulation's dummy key)
        return boto3.client(service, region_name=self.region)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                params: dict[str, str] | None = None) -> Any:
        response = requests.request(method, self.api_url + path, json=body, params=params, auth=self._auth(),
                                    timeout=60)
        payload = response.json() if response.content else {}
        if response.status_code >= 400:
            raise ApiError(response.status_code, payload if isinstance(payload, dict) else {"message": str(payload)})
        return payload


    def _auth(self) -> SigV4:
        if self.person:
            return SigV4(Credentials(self.person["accessKeyId"], self.person["secretAccessKey"]), self.region)
        credentials = boto3.Session().get_credentials()
        if credentials is None:
            raise RuntimeError("no AWS credentials found (aws configure, or AWS_PROFILE)")
        return SigV4(credentials.get_frozen_credentials(), self.region)


def resolve(use_local: bool, stack_name: str | None = None) -> Target:
    if use_local:
        state = local.read_state()
        if not state:
            raise RuntimeError("LocalCloud is not running: start it with `neuronlab local up`")
        return Target(api_url=state["apiUrl"], region=state["region"], aws_endpoint=state["awsEndpoint"],
                      person=state["person"])
    config_path = Path("samconfig.toml")
    config = tomllib.loads(config_path.read_text()) if config_path.exists() else {}
    stack = stack_name or config.get("default", {}).get("global", {}).get("parameters", {}).get("stack_name",
                                                                                               "neuronlab")
    session = boto3.Session()
    if session.region_name is None:
        raise RuntimeError("no AWS region is configured (aws configure, or AWS_REGION / AWS_DEFAULT_REGION); "
                           "to try NeuronLab without an AWS account, add --local")
    if session.get_credentials() is None:
        raise RuntimeError("no AWS credentials found (aws configure, or AWS_PROFILE); to try NeuronLab without "
                           "an AWS account, add --local")
    outputs = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    api_url = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "ApiUrl"), None)
    if not api_url:
        raise RuntimeError(f"stack {stack} has no ApiUrl output; deploy it with `sam deploy --guided`")
    return Target(api_url=api_url, region=session.region_name or "us-east-1", stack=stack)
