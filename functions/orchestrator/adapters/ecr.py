"""ECR: resolve an image tag to the digest the environment is deployed with."""

from __future__ import annotations

import re
from dataclasses import dataclass

from botocore.exceptions import ClientError

from orchestrator.adapters.aws import client
from orchestrator.errors import ImageNotFound, InvalidRequest

# registry/repository[:tag|@digest]
_IMAGE = re.compile(
    r"^(?P<registry>(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?)/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*)(?::(?P<tag>[A-Za-z0-9_.-]{1,128})|@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


@dataclass(frozen=True)
class ResolvedImage:
    uri: str
    digest: str

    @property
    def pinned_uri(self) -> str:
        """The image by digest: what the task definition runs, so a re-pushed tag changes nothing."""
        return f"{self.uri.split('@')[0].rsplit(':', 1)[0]}@{self.digest}"


def resolve(image_uri: str) -> ResolvedImage:
    match = _IMAGE.match(image_uri)
    if not match:
        raise InvalidRequest(
            f"image: {image_uri!r} is not an ECR image URI (ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO[:TAG])"
        )
    image_id = {"imageDigest": match["digest"]} if match["digest"] else {"imageTag": match["tag"] or "latest"}
    try:
        response = client("ecr").describe_images(
            registryId=match["account"], repositoryName=match["repository"], imageIds=[image_id]
        )
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("ImageNotFoundException", "RepositoryNotFoundException"):
            raise ImageNotFound(f"image {image_uri} is not in ECR ({code}); push it first") from None
        raise
    return ResolvedImage(uri=image_uri, digest=response["imageDetails"][0]["imageDigest"])
