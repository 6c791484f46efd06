"""S3: nested templates stored by content hash, so an unchanged template is never uploaded twice."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from botocore.exceptions import ClientError

from orchestrator.adapters.aws import client


def upload_by_hash(bucket: str, path: Path, prefix: str = "nested") -> str:
    """Upload once per content; returns the template URL CloudFormation reads.

    An object already at the key is reused only when S3's own SHA-256 of it is the content's: one that was
    replaced or corrupted since is uploaded again (issue 11: uploads verify content)."""
    body = path.read_bytes()
    digest = hashlib.sha256(body)
    key = f"{prefix}/{digest.hexdigest()[:16]}/{path.name}"
    checksum = base64.b64encode(digest.digest()).decode()
    s3 = client("s3")
    try:
        stored = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED").get("ChecksumSHA256")
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchKey", "NotFound"):
            raise
        stored = None
    if stored != checksum:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="AES256", ChecksumAlgorithm="SHA256")
    return f"https://{bucket}.s3.amazonaws.com/{key}"
