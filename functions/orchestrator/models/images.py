"""What an image reference must look like: an ECR repository, by tag or digest (plain re, no pydantic)."""

from __future__ import annotations

import re

# registry/repository[:tag|@digest]
ECR_IMAGE = re.compile(
    r"^(?P<registry>(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?)/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*)(?::(?P<tag>[A-Za-z0-9_.-]{1,128})|@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
ECR_IMAGE_RULE = "an ECR image URI (ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO[:TAG|@sha256:DIGEST])"
