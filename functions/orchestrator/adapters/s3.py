"""S3: nested templates stored by content hash, so an unchanged template is never uploaded twice."""

from __future__ import annotations

import hashlib
from pathlib import Path

from botocore.exceptions import ClientError

from orchestrator.adapters.aws import client


def upload_by_hash(bucket: str, path: Path, prefix: str = "nested") -> str:
    """Upload once per content; returns the template URL CloudFormation reads."""
    body = path.read_bytes()
    key = f"{prefix}/{hashlib.sha256(body).hexdigest()[:16]}/{path.name}"
    s3 = client("s3")
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
            raise
        s3.put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="AES256")
    return f"https://{bucket}.s3.amazonaws.com/{key}"
