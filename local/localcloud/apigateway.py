"""The REST API on localhost: each HTTP request becomes an API Gateway proxy event for the api function.

moto's API Gateway never invokes AWS_PROXY integrations, so this stands in for it. It listens on
127.0.0.1 only. Like the deployed API (AWS_IAM auth) it refuses a request that is not SigV4-signed by a
user of the emulated IAM, or whose user's policies do not allow execute-api:Invoke on the method; it
fills `requestContext.identity` with the caller (userArn, user, accessKey, accountId), as API Gateway does:
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html
Gateway errors have the API's one error shape, {"message": ...} (template.yaml's gateway responses).
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from moto.awslambda.models import lambda_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.exceptions import InvalidClientTokenIdError, SignatureDoesNotMatchError
from moto.iam.access_control import IAMRequest

from localcloud import iam

STAGE = "v1"
API_ID = "localcloud"


class GatewayError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def caller(method: str, raw_path: str, headers: dict[str, str], body: bytes, region: str) -> dict[str, str]:
    """The identity API Gateway derives from a SigV4-signed request, after checking execute-api:Invoke."""
    if "Authorization" not in headers or "Credential=" not in headers["Authorization"]:
        raise GatewayError(403, "Missing Authentication Token")
    try:
        request = IAMRequest(DEFAULT_ACCOUNT_ID, method, raw_path, {}, body, headers, "Invoke")
        request.check_signature()
    except (InvalidClientTokenIdError, SignatureDoesNotMatchError) as error:
        raise GatewayError(403, error.message) from None
    except KeyError as error:  # a signed header it names is missing (X-Amz-Date)
        raise GatewayError(403, f"Authorization header requires {error}") from None
    key = request._access_key  # moto resolved the access key to its IAM user
    user_arn = key.arn
    user_name = user_arn.rsplit("/", 1)[-1]
    path = urlsplit(raw_path).path.removeprefix(f"/{STAGE}")
    method_arn = f"arn:aws:execute-api:{region}:{DEFAULT_ACCOUNT_ID}:{API_ID}/{STAGE}/{method}{path}"
    if not iam.decide(iam.user_policies(DEFAULT_ACCOUNT_ID, user_name), "execute-api:Invoke", method_arn, {}):
        raise GatewayError(403, f"User: {user_arn} is not authorized to perform: execute-api:Invoke on resource: "
                                f"{method_arn}")
    return {"userArn": user_arn, "user": user_name, "caller": user_name, "accessKey": key._access_key_id,
            "accountId": DEFAULT_ACCOUNT_ID}


def proxy_event(method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str,
                identity: dict[str, str] | None = None) -> dict[str, Any]:
    parts = urlsplit(raw_path)
    path = parts.path.removeprefix(f"/{STAGE}") or "/"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = dict(pairs)  # a repeated parameter: its last value here, all of them in the multi-value map
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    return {
        "resource": path, "path": path, "httpMethod": method, "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": None, "stageVariables": None, "isBase64Encoded": False,
        # not valid UTF-8: API Gateway passes a non-binary body as text (binaryMediaTypes is not configured)
        "body": body.decode(errors="replace") if body else None,
        "requestContext": {
            "resourcePath": path, "httpMethod": method, "path": f"/{STAGE}{path}", "stage": STAGE,
            "requestId": str(uuid.uuid4()), "accountId": DEFAULT_ACCOUNT_ID, "apiId": API_ID,
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent", ""), **(identity or {})},
        },
    }


class ApiServer:
    def __init__(self, function_name: str, port: int, region: str = "us-east-1") -> None:
        self.function = lambda_backends[DEFAULT_ACCOUNT_ID][region].get_function(function_name)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                headers, body = dict(self.headers), self.rfile.read(length)
                try:
                    identity = caller(self.command, self.path, headers, body, region)
                except GatewayError as error:
                    status, response_headers, payload = error.status, {"Content-Type": "application/json"}, \
                        json.dumps({"message": str(error)}).encode()
                else:
                    event = proxy_event(self.command, self.path, headers, body, self.client_address[0], identity)
                    status, response_headers, payload = server.invoke(event)
                self.send_response(status)
                for key, value in response_headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = do_PUT = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{STAGE}"

    def invoke(self, event: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        payload, errored, _ = self.function._invoke_lambda(json.dumps(event))
        if errored:  # API Gateway answers a crashed integration with 502
            return 502, {"Content-Type": "application/json"}, b'{"message": "Internal server error"}'
        response = json.loads(payload)
        # API Gateway sends both maps; a proxy response may use either (Powertools' REST resolver: the second)
        headers = {**(response.get("headers") or {}),
                   **{k: ",".join(v) for k, v in (response.get("multiValueHeaders") or {}).items()}}
        return int(response.get("statusCode", 200)), headers, (response.get("body") or "").encode()

    def start(self) -> None:
        threading.Thread(target=self.httpd.serve_forever, name="localcloud-api", daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
