"""LocalCloud's stand-in for CloudFront and the shared load balancer: HTTPS on localhost, and
/{environment}/... (HTTP and websockets) to that environment's notebook process.

The certificate is self-signed and written under the state directory; NeuronLab's clients trust
it through NEURONLAB_NOTEBOOK_CA_FILE (`ca_file`); a browser asks once.

Every request first runs the environment's CloudFront function (the viewer-request allow-list of
nested/notebook.yml, as deployed in its stack) with the viewer's address, as CloudFront does, in a Node.js
worker process (ViewerFunctions): a response it returns (403 for an address off the allow-list) is the
answer. A user on this machine is 127.0.0.1; LocalCloud's Lambda functions reach the edge from 127.0.0.2
(localcloud.patches), as a function outside a VPC reaches CloudFront from an AWS address.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import itertools
import json
import logging
import os
import selectors
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tornado import httpclient, httpserver, netutil, web, websocket

# Hop-by-hop headers are the proxy's own business (RFC 9110 section 7.6.1). Host is not one: CloudFront's
# Managed-AllViewer origin request policy forwards the viewer's Host, and Jupyter's same-origin check
# compares the browser's Origin with it.
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer",
        "content-length"}
WORKER = Path(__file__).with_name("viewer_functions.js")
_log = logging.getLogger("localcloud.edge")


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "edge-cert.pem", directory / "edge-key.pem"
    if cert.exists() and key.exists():
        return cert, key
    directory.mkdir(parents=True, exist_ok=True)
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    key.chmod(0o600)
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert, key


class FunctionError(Exception):
    """The function could not give an answer: it threw, ran too long, or its worker died."""


# What CloudFront answers when a viewer-request function fails ("HTTP 503 status code (function execution
# error)", https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/http-503-service-unavailable.html).
FUNCTION_ERROR = {"statusCode": 503, "statusDescription": "The CloudFront function returned an error"}


class ViewerFunctions:
    """CloudFront Functions (cloudfront-js-2.0) run by a Node.js worker process (viewer_functions.js), one V8
    context per environment: at most `max_contexts` (least recently used first out), one freed as soon as a
    request finds its environment's function gone, all of them when the edge stops. V8 runs
    outside this process, so however it fails, this process (pytest, `neuronlab local up`) lives on: a dead or
    stuck worker is a 503 for that request, as CloudFront answers a function error, and the next request
    starts a new worker."""

    def __init__(self, code_for: Callable[[str], str | None], timeout_s: float = 5.0, max_contexts: int = 64,
                 function_timeout_ms: int = 1000) -> None:
        node = shutil.which("node")
        if node is None:  # said at once, not as a 503 on every request
            raise RuntimeError("LocalCloud's edge needs Node.js to run CloudFront functions (apt-get install nodejs)")
        self._node = node
        self.code_for = code_for
        self.timeout_s = timeout_s
        self._arguments = [str(WORKER), str(function_timeout_ms), str(max_contexts)]
        self._worker: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._known: set[str] = set()  # environments whose code the worker may hold

    def run(self, environment: str, event: dict[str, Any]) -> dict[str, Any] | None:
        """The function's result for a viewer request: the request to forward, or a response; None: no function."""
        code = self.code_for(environment)
        if code is None and environment not in self._known:
            return None  # no function, and none to free: no need to wait for the worker
        with self._lock:
            if code is None:
                if environment in self._known:  # the environment's function was deleted: free its context
                    self._known.discard(environment)
                    self._call_quietly({"forget": environment})
                return None
            try:
                result = self._call({"environment": environment, "code": code, "event": event})
                if not isinstance(result, dict):  # CloudFront takes a request or a response object, nothing else
                    raise FunctionError(f"the function returned {json.dumps(result)}, not a request or a response")
                return result
            except FunctionError as error:
                _log.warning("edge: the CloudFront function of %s failed (%s): answering 503", environment, error)
                return dict(FUNCTION_ERROR)
            finally:
                self._known.add(environment)

    def contexts(self) -> int:
        """How many function contexts the worker holds now (0 without a worker)."""
        with self._lock:
            return int(self._call({"stats": True})["contexts"]) if self._alive() else 0

    @property
    def worker_pid(self) -> int | None:
        return self._worker.pid if self._alive() else None  # type: ignore[union-attr]

    def close(self) -> None:
        with self._lock:
            self._stop_worker()

    def _alive(self) -> bool:
        return self._worker is not None and self._worker.poll() is None

    def _call_quietly(self, request: dict[str, Any]) -> None:
        try:
            if self._alive():
                self._call(request)
        except FunctionError as error:
            _log.warning("edge: the CloudFront function worker failed (%s)", error)

    def _call(self, request: dict[str, Any]) -> Any:
        if not self._alive():
            self._start_worker()
        worker = self._worker
        assert worker is not None and worker.stdin is not None and worker.stdout is not None
        request_id = next(self._ids)
        try:
            worker.stdin.write(json.dumps({"id": request_id, **request}).encode() + b"\n")
            worker.stdin.flush()
            reply = json.loads(self._read_line(worker))
        except (OSError, ValueError, FunctionError) as error:
            self._stop_worker()  # whatever state it is in, the next request gets a new one
            raise FunctionError(str(error) or type(error).__name__) from error
        if reply.get("id") != request_id:
            self._stop_worker()
            raise FunctionError(f"the worker answered request {reply.get('id')} to request {request_id}")
        if "error" in reply:
            raise FunctionError(reply["error"])
        return reply["result"]

    def _read_line(self, worker: subprocess.Popen[bytes]) -> bytes:
        assert worker.stdout is not None
        deadline = time.monotonic() + self.timeout_s
        with selectors.DefaultSelector() as selector:
            selector.register(worker.stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise FunctionError(f"no answer within {self.timeout_s:g} s")
                chunk = os.read(worker.stdout.fileno(), 65536)
                if not chunk:
                    raise FunctionError(f"the worker exited ({worker.wait()})")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def _start_worker(self) -> None:
        self._worker = subprocess.Popen([self._node, *self._arguments], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._buffer = b""
        self._known.clear()

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker.wait()
            for pipe in (self._worker.stdin, self._worker.stdout):
                if pipe is not None:
                    pipe.close()
            self._worker = None


def viewer_event(request: Any) -> dict[str, Any]:
    """The viewer-request event CloudFront hands a function (the fields the allow-list reads, and the request)."""
    return {
        "version": "1.0", "context": {"eventType": "viewer-request"}, "viewer": {"ip": request.remote_ip},
        "request": {"method": request.method, "uri": request.path,
                    "querystring": {k: {"value": v[-1].decode()} for k, v in request.query_arguments.items()},
                    "headers": {k.lower(): {"value": v} for k, v in request.headers.get_all()}, "cookies": {}},
    }


class _Proxy(websocket.WebSocketHandler):
    """One handler for both: a websocket upgrade is piped frame by frame, anything else is forwarded."""

    def initialize(self, route: Callable[[str], int | None], functions: ViewerFunctions) -> None:
        self.route = route
        self.functions = functions
        self.upstream: websocket.WebSocketClientConnection | None = None

    async def prepare(self) -> None:
        """The distribution's viewer-request function runs before anything else, websocket upgrades included;
        in a thread, so a slow function holds up no other request the edge is serving."""
        result = await asyncio.get_running_loop().run_in_executor(
            None, self.functions.run, self.request.path.split("/", 2)[1], viewer_event(self.request))
        if result is None or "statusCode" not in result:
            return
        self.set_status(int(result["statusCode"]), result.get("statusDescription"))
        for name, header in (result.get("headers") or {}).items():
            self.set_header(name, header["value"])
        self.finish()

    def _target(self) -> str:
        """host:port/uri of the environment's notebook; raises HTTPError as the load balancer would answer."""
        environment = self.request.path.split("/", 2)[1]
        port = self.route(environment)
        if port is None:  # no listener rule: the listener's default action
            raise web.HTTPError(404, reason="no such environment")
        if port == 0:  # a rule whose target group has no healthy target
            raise web.HTTPError(503, reason="no healthy target")
        return f"127.0.0.1:{port}{self.request.uri}"

    def _upstream_headers(self) -> dict[str, str]:
        headers = {k: v for k, v in self.request.headers.get_all() if k.lower() not in _HOP}
        return {**headers, "X-Forwarded-Proto": "https", "X-Forwarded-For": self.request.remote_ip or ""}

    async def get(self, *args: Any, **kwargs: Any) -> None:
        if self.request.headers.get("Upgrade", "").lower() == "websocket":
            await super().get(*args, **kwargs)
        else:
            await self._forward()

    async def _forward(self) -> None:
        target = self._target()
        try:
            response = await httpclient.AsyncHTTPClient().fetch(
                f"http://{target}", method=self.request.method, headers=self._upstream_headers(),
                body=self.request.body if self.request.method in ("POST", "PUT", "PATCH") else None,
                follow_redirects=False, raise_error=False, allow_nonstandard_methods=True, request_timeout=300)
        except OSError:  # the notebook is not listening (yet): what a load balancer answers with 502
            self.set_status(502)
            self.finish("bad gateway")
            return
        self.set_status(response.code, response.reason)
        for key, value in response.headers.get_all():
            if key.lower() not in _HOP:
                self.add_header(key, value)
        self.finish(response.body or b"")

    post = put = patch = delete = head = options = _forward

    async def open(self, *args: Any, **kwargs: Any) -> None:
        try:
            target = self._target()
        except web.HTTPError as error:
            self.close(1008, error.reason)
            return
        request = httpclient.HTTPRequest(f"ws://{target}", headers=self._upstream_headers())
        self.upstream = await websocket.websocket_connect(request, on_message_callback=self._from_upstream)

    def _from_upstream(self, message: str | bytes | None) -> None:
        if message is None:
            self.close()
        elif not self.ws_connection or self.ws_connection.is_closing():
            return
        else:
            self.write_message(message, binary=isinstance(message, bytes))

    async def on_message(self, message: str | bytes) -> None:
        if self.upstream is not None:
            await self.upstream.write_message(message, binary=isinstance(message, bytes))

    def on_close(self) -> None:
        if self.upstream is not None:
            self.upstream.close()

    def check_origin(self, origin: str) -> bool:
        return True  # the notebook behind makes its own same-origin check


class Edge:
    def __init__(self, state_dir: Path, route: Callable[[str], int | None],
                 viewer_function: Callable[[str], str | None]) -> None:
        self.cert, key = _certificate(state_dir)
        self.ca_file = self.cert  # self-signed: the certificate is its own authority
        self.functions = ViewerFunctions(viewer_function)
        self._application = web.Application([(r"/.*", _Proxy, {"route": route, "functions": self.functions})],
                                            websocket_ping_interval=30)
        self._ssl = {"certfile": str(self.cert), "keyfile": str(key)}
        self._sockets = netutil.bind_sockets(0, "127.0.0.1")
        self.port = self._sockets[0].getsockname()[1]
        self.domain = f"localhost:{self.port}"  # what the emulated distribution reports as its DomainName
        self._loop = asyncio.new_event_loop()
        # where viewer functions are waited on, off the loop; shut down with the edge
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="localcloud-edge-function")
        self._loop.set_default_executor(self._executor)
        self._thread = threading.Thread(target=self._run, name="localcloud-edge", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = httpserver.HTTPServer(self._application, ssl_options=self._ssl)  # created on its own loop
        server.add_sockets(self._sockets)
        self._loop.run_forever()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self.functions.close()
        self._executor.shutdown(wait=True)
        for sock in self._sockets:
            sock.close()
        if not self._thread.is_alive():
            self._loop.close()
