"""Nested templates are uploaded by content hash, and an object at that key is trusted only for its content."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from orchestrator.adapters import aws, s3

BUCKET = "artifacts-bucket"


@pytest.fixture
def bucket(aws_env: None) -> Iterator[str]:
    with mock_aws():
        aws.reset()
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield BUCKET
        aws.reset()


def test_unchanged_content_is_uploaded_once(bucket: str, tmp_path: Path) -> None:
    template = tmp_path / "notebook.yml"
    template.write_text("Resources: {}\n")
    first = s3.upload_by_hash(bucket, template)
    versions_before = boto3.client("s3").list_object_versions(Bucket=bucket).get("Versions", [])
    assert s3.upload_by_hash(bucket, template) == first
    assert boto3.client("s3").list_object_versions(Bucket=bucket).get("Versions", []) == versions_before


def test_an_object_replaced_at_the_key_is_uploaded_again(bucket: str, tmp_path: Path) -> None:
    template = tmp_path / "notebook.yml"
    template.write_text("Resources: {}\n")
    url = s3.upload_by_hash(bucket, template)
    key = url.split(".amazonaws.com/", 1)[1]
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=b"Resources: {Evil: {Type: AWS::IAM::Role}}")

    assert s3.upload_by_hash(bucket, template) == url
    assert boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read() == template.read_bytes()
