"""ECR: resolve an image tag to the digest the environment is deployed with."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from orchestrator.adapters.aws import client
from orchestrator.errors import ImageNotFound, InvalidRequest
from orchestrator.models.images import ECR_IMAGE, ECR_IMAGE_RULE


@dataclass(frozen=True)
class ResolvedImage:
    uri: str
    digest: str

    @property
    def pinned_uri(self) -> str:
        """The image by digest: what the task definition runs, so a re-pushed tag changes nothing."""
        return f"{self.uri.split('@')[0].rsplit(':', 1)[0]}@{self.digest}"


def resolve(image_uri: str) -> ResolvedImage:
    match = ECR_IMAGE.match(image_uri)
    if not match:
        raise InvalidRequest(f"image: {image_uri!r} is not {ECR_IMAGE_RULE}")
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
