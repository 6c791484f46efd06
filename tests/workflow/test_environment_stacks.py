"""The environment stacks on LocalCloud: shared network, per-environment routing, teardown."""

from __future__ import annotations

import json
import os
import time
import uuid

import boto3
import pytest
import requests
import websocket
from botocore.exceptions import ClientError
from neuronlab_core import jupyter

from localcloud.cloud import LocalCloud
from tests.workflow.conftest import http, start, wait

pytestmark = pytest.mark.slow


def token(record: dict) -> str:
    return boto3.client("secretsmanager").get_secret_value(SecretId=record["tokenSecretArn"])["SecretString"]


def test_environments_share_the_network_and_each_url_reaches_only_its_own_notebook(cloud: LocalCloud) -> None:
    # Given two environments running side by side (started one after the other: moto's S3 is not safe
    # for two concurrent puts of the same template object, which AWS is)
    _, alpha, _ = wait(cloud, start(cloud, {"name": "alpha", "benchmark": False})["executionArn"])
    _, beta, _ = wait(cloud, start(cloud, {"name": "beta", "benchmark": False})["executionArn"])
    assert alpha["state"] == beta["state"] == "READY", (alpha.get("failureReason"), beta.get("failureReason"))

    # Then both are served over HTTPS under their own path, with their own rule priority
    assert alpha["url"].startswith("https://") and alpha["url"].endswith("/alpha/")
    assert beta["url"].endswith("/beta/") and alpha["listenerPriority"] != beta["listenerPriority"]
    assert jupyter.api_status(alpha["url"], token(alpha))[0] == 200
    # one environment's token does not open the other's notebook
    assert jupyter.api_status(beta["url"], token(alpha))[0] == 403
    # both were placed in AZs that offer the type (moto's offerings: inf2.xlarge not in us-east-1d/e)
    zones = set(alpha["placement"]["subnetZones"].values())
    assert zones and zones <= {"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1f"}
    stacks = {s["StackName"] for s in boto3.client("cloudformation").describe_stacks()["Stacks"]}
    assert sum(name.startswith("neuronlab-SharedNetwork") for name in stacks) == 1


def test_kernels_talk_over_websockets_through_the_edge(cloud: LocalCloud) -> None:
    # Given a READY environment, reached only through its HTTPS URL (CloudFront + the shared listener)
    _, ready, _ = wait(cloud, start(cloud, {"name": "sockets", "benchmark": False})["executionArn"])
    assert ready["state"] == "READY", ready.get("failureReason")
    headers = {"Authorization": f"token {token(ready)}"}
    ca = os.environ["NEURONLAB_NOTEBOOK_CA_FILE"]
    kernel = requests.post(ready["url"] + "api/kernels", headers=headers, json={}, verify=ca, timeout=30).json()

    # When code runs in a kernel over its websocket channel
    channel = websocket.create_connection(
        ready["url"].replace("https", "wss", 1) + f"api/kernels/{kernel['id']}/channels",
        header=[f"Authorization: {headers['Authorization']}"], sslopt={"ca_certs": ca}, timeout=30)
    session = uuid.uuid4().hex
    channel.send(json.dumps({
        "header": {"msg_id": uuid.uuid4().hex, "session": session, "username": "test", "msg_type": "execute_request",
                   "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": "print(6 * 7)", "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True}}))

    # Then its output comes back over the same socket
    output = None
    for _ in range(100):
        message = json.loads(channel.recv())
        if message.get("msg_type") == "stream":
            output = message["content"]["text"]
            break
    channel.close()
    assert output == "42\n"


def test_delete_tears_everything_down_keeps_home_and_allows_a_fresh_start(cloud: LocalCloud) -> None:
    # Given a READY environment
    first = start(cloud, {"name": "doomed", "benchmark": False})
    _, ready, _ = wait(cloud, first["executionArn"])
    assert ready["state"] == "READY", ready.get("failureReason")
    url, secret = ready["url"], ready["tokenSecretArn"]
    stack_outputs = {o["OutputKey"]: o["OutputValue"] for o in boto3.client("cloudformation").describe_stacks(
        StackName=ready["stackName"])["Stacks"][0]["Outputs"]}

    # When it is deleted
    response = http(cloud).delete(f"{cloud.api.url}/environments/doomed", timeout=60)

    # Then its stack, group and token are gone, its URL answers nothing, and /home's id is kept
    assert response.status_code == 202, response.text
    deleted = response.json()
    assert deleted["state"] == "DELETED" and "url" not in deleted and "tokenSecretArn" not in deleted
    assert deleted["retainedFileSystemId"] == stack_outputs["FileSystemId"]
    with pytest.raises(ClientError, match="does not exist"):
        boto3.client("cloudformation").describe_stacks(StackName=ready["stackName"])
    groups = boto3.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["neuronlab-doomed"])
    assert groups["AutoScalingGroups"] == []
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        boto3.client("secretsmanager").describe_secret(SecretId=secret)
    deadline = time.monotonic() + 10  # the local agent stops the notebook on its next tick
    while jupyter.api_status(url, "whatever")[0] != 404:
        assert time.monotonic() < deadline, "the deleted environment's path still answers"
        time.sleep(0.2)

    # and a second delete is a conflict, while a start creates it afresh
    assert http(cloud).delete(f"{cloud.api.url}/environments/doomed", timeout=60).status_code == 409
    again = start(cloud, {"name": "doomed", "benchmark": False})
    execution, ready, _ = wait(cloud, again["executionArn"])
    assert ready["state"] == "READY", ready.get("failureReason")
    assert ready["tokenSecretArn"] != secret


def test_deleting_an_environment_being_provisioned_aborts_its_start(cloud: LocalCloud) -> None:
    started = start(cloud, {"name": "busy", "benchmark": False})
    response = http(cloud).delete(f"{cloud.api.url}/environments/busy", timeout=60)
    assert response.status_code == 202, response.text
    execution, record, _ = wait(cloud, started["executionArn"])
    # aborted; on LocalCloud a step running at that moment may still end it FAILED (moto stops between states)
    assert execution["status"] in ("ABORTED", "FAILED", "SUCCEEDED")
    assert record["state"] == "DELETED"
    # a step that was already running may have created the stack after the delete: the reconciler removes it
    boto3.client("lambda").invoke(FunctionName=cloud.function_name("IdleSweepFunction"),
                                  Payload=json.dumps({"reconcile": True}).encode())
    assert [s for s in boto3.client("cloudformation").describe_stacks()["Stacks"]
            if s["StackName"] == "neuronlab-env-busy" and s["StackStatus"] != "DELETE_COMPLETE"] == []
    again = http(cloud).delete(f"{cloud.api.url}/environments/busy", timeout=60)
    assert again.status_code == 409 and "start it to create it again" in again.json()["message"]


def test_an_instance_type_not_offered_in_the_network_fails_with_the_reason(cloud: LocalCloud) -> None:
    # moto's offerings put trn1.32xlarge in us-east-1b/c/f; the shared network spans us-east-1a-c, so it
    # is placed in b and c. trn1n is not in the table at all: the API refuses it before any workflow.
    response = http(cloud).post(f"{cloud.api.url}/environments",
                                 json={"name": "trn", "instanceType": "trn1n.32xlarge"}, timeout=30)
    assert response.status_code == 400 and response.json()["message"].startswith("instanceType:")
    started = start(cloud, {"name": "trn", "instanceType": "trn1.32xlarge", "benchmark": False})
    _, ready, _ = wait(cloud, started["executionArn"])
    assert ready["state"] == "READY", ready.get("failureReason")
    assert set(ready["placement"]["subnetZones"].values()) == {"us-east-1b", "us-east-1c"}
