"""The REST API on localhost: each HTTP request becomes an API Gateway proxy event for the api function.

moto's API Gateway never invokes AWS_PROXY integrations, so this stands in for it. It listens on
127.0.0.1 only and does not check SigV4 signatures (the deployed API requires them: AWS_IAM).
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

STAGE = "v1"


def proxy_event(method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str) -> dict[str, Any]:
    parts = urlsplit(raw_path)
    path = parts.path.removeprefix(f"/{STAGE}") or "/"
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    return {
        "resource": path, "path": path, "httpMethod": method, "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
        "pathParameters": None, "stageVariables": None, "isBase64Encoded": False,
        "body": body.decode() if body else None,
        "requestContext": {
            "resourcePath": path, "httpMethod": method, "path": f"/{STAGE}{path}", "stage": STAGE,
            "requestId": str(uuid.uuid4()), "accountId": DEFAULT_ACCOUNT_ID, "apiId": "localcloud",
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent", "")},
        },
    }


class ApiServer:
    def __init__(self, function_name: str, port: int, region: str = "us-east-1") -> None:
        self.function = lambda_backends[DEFAULT_ACCOUNT_ID][region].get_function(function_name)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                event = proxy_event(self.command, self.path, dict(self.headers), self.rfile.read(length),
                                    self.client_address[0])
                status, headers, body = server.invoke(event)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

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
        return (int(response.get("statusCode", 200)), response.get("headers") or {},
                (response.get("body") or "").encode())

    def start(self) -> None:
        threading.Thread(target=self.httpd.serve_forever, name="localcloud-api", daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
