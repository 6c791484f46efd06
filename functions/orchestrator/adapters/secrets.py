"""Secrets Manager: the Jupyter token, one secret per environment, kept across stop/start."""

from __future__ import annotations

from botocore.exceptions import ClientError

from orchestrator.adapters.aws import client


def ensure_token_secret(name: str, environment: str) -> str:
    """The ARN of the environment's token secret, created with a random value if missing."""
    sm = client("secretsmanager")
    try:
        return sm.describe_secret(SecretId=name)["ARN"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    token = sm.get_random_password(PasswordLength=48, ExcludePunctuation=True)["RandomPassword"]
    created = sm.create_secret(
        Name=name,
        Description=f"JupyterLab token of NeuronLab environment {environment}",
        SecretString=token,
        Tags=[{"Key": "neuronlab:environment", "Value": environment}],
    )
    return created["ARN"]


def read(name: str) -> str:
    return client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]


def delete(secret_id: str) -> None:
    """The token of a deleted environment has no further use: no recovery window."""
    try:
        client("secretsmanager").delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
