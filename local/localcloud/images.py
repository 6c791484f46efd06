"""Image records in LocalCloud's ECR (LocalCloud runs the notebook and the harness from this checkout)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any

REPOSITORY = "neuronlab"
MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def put_image(ecr: Any, tag: str = "latest", repository: str = REPOSITORY) -> str:
    """Create the repository if needed and an image under `tag`; returns the image URI with its tag."""
    try:
        uri = ecr.create_repository(repositoryName=repository)["repository"]["repositoryUri"]
    except ecr.exceptions.RepositoryAlreadyExistsException:
        uri = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]["repositoryUri"]
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MEDIA_TYPE, "layers": [],
                           "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 0,
                                      "digest": "sha256:" + hashlib.sha256(tag.encode()).hexdigest()}})
    with contextlib.suppress(ecr.exceptions.ImageAlreadyExistsException):
        ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag,
                      imageManifestMediaType=MEDIA_TYPE)
    return f"{uri}:{tag}"
