"""The HTTP side: a threading server, auth, fault injection, and writing replies."""

from __future__ import annotations

import contextlib
import hmac
import re
import socket
import socketserver
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from generations.priority import lower_this_threads_priority

from .config import SimulatorConfig
from .images import render_png
from .protocol import Dice
from .routes import Aborted, Context, Dropped, Reply, json_reply, resolve, submit
from .store import Store
from .tally import Tally
from .webhooks import Deliveries

API_PREFIX = "/api/v3"
# The simulator's own controls for tests (e.g. revoking the key); they need the key too.
CONTROL_PREFIX = "/_sim/"
MAX_BODY_BYTES = 1024 * 1024
# Only plain host[:port] values may flow into the URLs the simulator hands out.
# The failing answers of SIMULATOR_FAULTS: (status, message, headers) by fault name.
_ERROR_ANSWERS: dict[str, tuple[int, str, tuple[tuple[str, str], ...]]] = {
    "500": (500, "Internal server error (simulated fault)", ()),
    "502": (502, "Bad gateway (simulated fault)", ()),
    "503": (503, "Service unavailable (simulated fault)", ()),
    "429": (429, "Too many requests (simulated fault)", (("Retry-After", "1"),)),
    "429_bare": (429, "Too many requests (simulated fault)", ()),
}
_HOST_HEADER = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


class SimulatorServer(ThreadingHTTPServer):
    """A WaveSpeed v3 look-alike; one daemon thread per connection."""

    daemon_threads = True
    # Sync-mode requests may sleep for minutes; closing must not wait for them.
    block_on_close = False
    # Bursts of concurrent clients should queue, not see refused connections.
    request_queue_size = 128

    def __init__(
        self,
        config: SimulatorConfig,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_requests: bool = False,
    ) -> None:
        """Bind to host:port (0 picks a free port) with fresh in-memory state."""
        self.config = config
        self.store = Store()
        # Every fault injected, by kind (transport faults and prompt markers alike).
        self.tally = Tally()
        self.dice = Dice(config.seed)
        # Webhook calls go out from threads of their own: no request waits on one.
        self.webhooks = Deliveries(
            config.webhook_secret,
            failure_rate=config.webhook_failure_rate,
            dice=self.dice,
            tally=self.tally,
            clock=self.store.clock,
        )
        # One thread renders outputs ahead of their downloads (see routes.submit), at a low
        # priority: the simulator stands in for a remote service, whose drawing takes none of
        # this machine's time from the app it serves.
        self._renderer = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="render", initializer=_lower_this_threads_priority
        )
        self.log_requests = log_requests
        self.stopping = threading.Event()
        self.key_revoked = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), SimulatorHandler)

    def serve_forever(self, poll_interval: float = 0.05) -> None:
        """Serve until shutdown(); a short poll interval makes shutdown() return quickly."""
        super().serve_forever(poll_interval)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup, which can stall for seconds."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    @property
    def url(self) -> str:
        """The base URL clients should use, e.g. http://127.0.0.1:8001."""
        host, port = self.server_address[:2]
        # A wildcard address is not something a client can connect to.
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(str(host), str(host))  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"

    def prerender(self, prompt: str, seed: int, aspect_ratio: str) -> None:
        """Render an output in the background, into the renderer's cache."""
        with contextlib.suppress(RuntimeError):  # shutting down
            self._renderer.submit(render_png, prompt, seed, aspect_ratio)

    def revoke_key(self) -> None:
        """Answer 401 to every /api/v3 call from now on, as the API does for a revoked key."""
        self.key_revoked.set()

    def restore_key(self) -> None:
        """Accept the configured key again."""
        self.key_revoked.clear()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Remember open connections so closing the server can cut them."""
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget a connection once its handler is done with it."""
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Stop listening, wake waiting requests and cut idle keep-alive connections."""
        self.stopping.set()
        self.webhooks.close()
        self._renderer.shutdown(wait=False, cancel_futures=True)
        super().server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            # It may already be closed by its handler, which is fine.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that hang up; report anything else."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError) or self.stopping.is_set():
            return
        super().handle_error(request, client_address)


class SimulatorHandler(BaseHTTPRequestHandler):
    """Parses one request at a time and answers it the way WaveSpeed would."""

    server: SimulatorServer
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API behind its CDN
    server_version = "WaveSpeedSimulator/1.0"
    timeout = 30  # idle keep-alive connections are closed after this many seconds

    # http.server dispatches on these exact method names.
    def do_GET(self) -> None:
        """Handle GET."""
        self._handle("GET")

    def do_HEAD(self) -> None:
        """Handle HEAD."""
        self._handle("HEAD")

    def do_POST(self) -> None:
        """Handle POST."""
        self._handle("POST")

    def do_PUT(self) -> None:
        """Handle PUT (never allowed, but answered with an envelope)."""
        self._handle("PUT")

    def do_PATCH(self) -> None:
        """Handle PATCH (never allowed)."""
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        """Handle DELETE (never allowed)."""
        self._handle("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """Log only when asked to; tests would drown in access lines."""
        if self.server.log_requests:
            super().log_message(format, *args)

    def _handle(self, method: str) -> None:
        """Read the body, apply faults and auth, run the endpoint, write the reply."""
        body = self._read_body()
        if body is None:
            return
        target = urlsplit(self.path)
        path = target.path
        server = self.server
        is_api = path == API_PREFIX or path.startswith(API_PREFIX + "/")
        faults = server.config.faults
        fault = None
        if is_api and faults.any:
            # Slowness combines with the other faults: a late 500 is as real as a quick one.
            if server.dice.chance(faults.slow):
                server.tally.add("slow")
                if server.stopping.wait(faults.slow_seconds):
                    return self._drop()
            fault = self._draw_fault()
            if fault is not None and fault != "drop":
                server.tally.add(fault)
        if fault in _ERROR_ANSWERS:
            status, message, headers = _ERROR_ANSWERS[fault]
            return self._send(json_reply(status, message, headers=dict(headers)))
        if (is_api and (server.key_revoked.is_set() or not self._authorised())) or (
            path.startswith(CONTROL_PREFIX) and not self._authorised()
        ):
            return self._send(json_reply(401, "Unauthorized: invalid or missing API key"))
        endpoint, params, refusal = resolve(method, path)
        if endpoint is None:
            if fault == "drop":
                server.tally.add("drop")
                return self._drop()
            return self._send(refusal or Reply(404))
        # A drop may come before the task exists or after: the ambiguous submit to recover from.
        if fault == "drop":
            created = endpoint is submit and server.dice.chance(server.config.faults.drop_created)
            server.tally.add("drop_created" if created else "drop")
            if not created:
                return self._drop()
        context = Context(
            config=server.config,
            store=server.store,
            dice=server.dice,
            stopping=server.stopping,
            base_url=self._base_url(),
            body=body,
            key_revoked=server.key_revoked,
            tally=server.tally,
            query=parse_qs(target.query),
            webhooks=server.webhooks,
            prerender=server.prerender,
        )
        try:
            reply = endpoint(context, **params)
        except (Aborted, Dropped):
            return self._drop()
        if fault == "drop":
            return self._drop()
        self._send(reply, head_only=method == "HEAD")

    def _draw_fault(self) -> str | None:
        """Pick at most one failing answer for this request, in a fixed order of draws."""
        faults, dice = self.server.config.faults, self.server.dice
        if dice.chance(faults.server_error):
            return "500"
        if dice.chance(faults.bad_gateway):
            return "502"
        if dice.chance(faults.unavailable):
            return "503"
        if dice.chance(faults.rate_limited):
            return "429"
        if dice.chance(faults.rate_limited_bare):
            return "429_bare"
        if dice.chance(faults.drop):
            return "drop"
        return None

    def _read_body(self) -> bytes | None:
        """Read the whole body, so keep-alive stays in step; None if a reply was sent."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._send(json_reply(411, "Chunked bodies are not supported; send Content-Length"))
            return None
        raw_length = self.headers.get("Content-Length", "0").strip() or "0"
        if not raw_length.isdigit():
            self.close_connection = True
            self._send(json_reply(400, "Invalid Content-Length header"))
            return None
        length = int(raw_length)
        if length > MAX_BODY_BYTES:
            # The unread body would be parsed as the next request: close instead.
            self.close_connection = True
            self._send(json_reply(413, f"Request body larger than {MAX_BODY_BYTES} bytes"))
            return None
        return self.rfile.read(length) if length else b""

    def _authorised(self) -> bool:
        """Check the Authorization: Bearer header against the configured key."""
        scheme, _, token = self.headers.get("Authorization", "").strip().partition(" ")
        expected = self.server.config.api_key.encode()
        # Constant-time, so the simulator does not teach clients a timing side channel.
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected)

    def _base_url(self) -> str:
        """Build link URLs from the Host the client used, so any bound name works."""
        host = self.headers.get("Host", "").strip()
        return f"http://{host}" if _HOST_HEADER.fullmatch(host) else self.server.url

    def _send(self, reply: Reply, *, head_only: bool = False) -> None:
        """Write a reply; a client that already hung up is not an error."""
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if not head_only:
                self.wfile.write(reply.body)
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _drop(self) -> None:
        """Close the connection without sending a single byte."""
        self.close_connection = True


def make_server(
    config: SimulatorConfig, host: str = "127.0.0.1", port: int = 0, *, log_requests: bool = False
) -> SimulatorServer:
    """Create a bound simulator; run serve_forever() in a thread, stop with shutdown()."""
    return SimulatorServer(config, host, port, log_requests=log_requests)


# How much lower than the server's own threads the renderer runs (nice levels, 0 to 19).
RENDERER_NICENESS = 10


def _lower_this_threads_priority() -> None:
    lower_this_threads_priority(RENDERER_NICENESS)
