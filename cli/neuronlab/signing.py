"""SigV4 for the NeuronLab API (AWS_IAM auth): a requests auth that signs each request as botocore does."""

from __future__ import annotations

from typing import Any

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials


class SigV4(requests.auth.AuthBase):
    """Signs for execute-api with the given credentials (your AWS profile, or a LocalCloud person's keys)."""

    def __init__(self, credentials: Credentials | ReadOnlyCredentials, region: str) -> None:
        self.credentials, self.region = credentials, region

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        signed = AWSRequest(method=request.method, url=request.url, data=request.body,
                            headers={"Content-Type": request.headers.get("Content-Type", "application/json")})
        SigV4Auth(self.credentials, "execute-api", self.region).add_auth(signed)
        request.headers.update(dict(signed.headers))
        return request


def session(credentials: dict[str, Any], region: str) -> requests.Session:
    """A requests session signing as these keys ({"accessKeyId", "secretAccessKey"[, "sessionToken"]})."""
    http = requests.Session()
    http.auth = SigV4(Credentials(credentials["accessKeyId"], credentials["secretAccessKey"],
                                  credentials.get("sessionToken")), region)
    return http
