"""The REST API on localhost: each HTTP request becomes an API Gateway proxy event for the api function.

moto's API Gateway never invokes AWS_PROXY integrations, so this stands in for it. It listens on
127.0.0.1 only. Like the deployed API (AWS_IAM auth) it refuses a request that is not SigV4-signed by a
user of the emulated IAM, or whose user's policies do not allow execute-api:Invoke on the method; it
fills `requestContext.identity` with the caller (userArn, user, accessKey, accountId), as API Gateway does:
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html
Gateway errors have the API's one error shape, {"message": ...} (template.yaml's gateway responses).

Then it invokes the function as the method's integration says (the translated template's OpenAPI body):
- with the caller's credentials (`credentials: arn:aws:iam::*:user/*`, SAM's default for AWS_IAM): the
  caller's own policies must allow lambda:InvokeFunction on the function, else API Gateway answers 500
  ("Invalid permissions on Lambda function" in its execution log);
- with no credentials: the function's resource policy (AWS::Lambda::Permission for apigateway.amazonaws.com)
  must name the method's ARN, else 500 as well.
https://docs.aws.amazon.com/apigateway/latest/developerguide/integration-request-basic-setup.html
A path and method no integration serves is API Gateway's 403 "Missing Authentication Token".
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass
from functools import cached_property
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
CALLER_CREDENTIALS = "arn:aws:iam::*:user/*"


class GatewayError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Integration:
    method: str
    resource: str  # the resource path: /environments/{name}
    credentials: str | None  # None: the function's resource policy decides

    @cached_property
    def _path(self) -> re.Pattern[str]:
        return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(self.resource)) + "/?")  # {name}: a segment

    def serves(self, method: str, path: str) -> bool:
        return method == self.method and self._path.fullmatch(path) is not None


def integrations(template: dict[str, Any], function: str) -> list[Integration]:
    """The methods of the template's REST API that proxy to `function` (a logical id), with their credentials."""
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::ApiGateway::RestApi":
            continue
        for path, methods in resource["Properties"]["Body"]["paths"].items():
            for method, spec in methods.items():
                integration = spec.get("x-amazon-apigateway-integration", {})
                if f"${{{function}.Arn}}" in json.dumps(integration.get("uri")):
                    found.append(Integration(method.upper(), path, integration.get("credentials")))
    return found


def invoke_permissions(template: dict[str, Any], function: str, region: str, account: str) -> list[str]:
    """The SourceArn patterns the function's resource policy admits API Gateway from."""
    found = []
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] != "AWS::Lambda::Permission" or properties.get("FunctionName") != {"Ref": function} \
                or properties.get("Principal") != "apigateway.amazonaws.com":
            continue
        text, variables = properties["SourceArn"]["Fn::Sub"]
        values = {"AWS::Region": region, "AWS::AccountId": account, "__ApiId__": API_ID,
                  **{k: v for k, v in variables.items() if isinstance(v, str)}}
        for name, value in values.items():
            text = text.replace(f"${{{name}}}", value)
        found.append(text)
    return found


def may_invoke(integration: Integration, user_name: str, function_arn: str, method_arn: str,
               permissions: list[str]) -> bool:
    """Whether API Gateway may invoke the function for this method: with the caller's credentials, the caller's
    policies decide; with none, the function's resource policy does."""
    if integration.credentials == CALLER_CREDENTIALS:
        return iam.decide(iam.user_policies(DEFAULT_ACCOUNT_ID, user_name), "lambda:InvokeFunction", function_arn,
                          {})
    if integration.credentials is None:
        return any(iam.wildcard_match(pattern, method_arn) for pattern in permissions)
    return False  # an invoke role: none of NeuronLab's methods uses one, so LocalCloud does not model it


def caller(method: str, raw_path: str, headers: dict[str, str], body: bytes,
           method_arn: str) -> dict[str, str]:
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
    def __init__(self, template: dict[str, Any], function: str, function_name: str, port: int,
                 region: str = "us-east-1") -> None:
        """Serves the template's REST API methods that proxy to `function` (logical id; deployed as
        `function_name`)."""
        self.function = lambda_backends[DEFAULT_ACCOUNT_ID][region].get_function(function_name)
        self.integrations = integrations(template, function)
        self.permissions = invoke_permissions(template, function, region, DEFAULT_ACCOUNT_ID)
        self.region = region
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                headers, body = dict(self.headers), self.rfile.read(length)
                try:
                    event = server.authorize(self.command, self.path, headers, body, self.client_address[0])
                except GatewayError as error:
                    status, response_headers, payload = error.status, {"Content-Type": "application/json"}, \
                        json.dumps({"message": str(error)}).encode()
                else:
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

    def authorize(self, method: str, raw_path: str, headers: dict[str, str], body: bytes,
                  source_ip: str) -> dict[str, Any]:
        """What API Gateway does before the function runs: the route, the caller, the right to invoke; the
        proxy event. Raises GatewayError with API Gateway's answer."""
        path = urlsplit(raw_path).path.removeprefix(f"/{STAGE}")
        integration = next((i for i in self.integrations if i.serves(method, path)), None)
        if integration is None:  # no such resource or method
            raise GatewayError(403, "Missing Authentication Token")
        method_arn = f"arn:aws:execute-api:{self.region}:{DEFAULT_ACCOUNT_ID}:{API_ID}/{STAGE}/{method}{path}"
        identity = caller(method, raw_path, headers, body, method_arn)
        if not may_invoke(integration, identity["user"], self.function.function_arn, method_arn, self.permissions):
            # API Gateway's execution log says "Invalid permissions on Lambda function"; the caller sees a 500
            raise GatewayError(500, "Internal server error")
        return proxy_event(method, raw_path, headers, body, source_ip, identity)

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
