"""The HTTP layer: a keep-alive ``ThreadingHTTPServer`` in a daemon thread.

Responses are written as one prebuilt buffer (status line, headers and body in a single
``write``) with Nagle off: a separate header write followed by a body write is what makes
naive ``http.server`` keep-alive clients stall for the delayed-ACK timeout.
"""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import socket
import threading
import time
from collections.abc import Mapping
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

import orjson

from .api import Api, RequestRecord, Response
from .auth import RateLimiter, normalize_tokens
from .clock import Clock, SystemClock
from .data import DEFAULT_CUSTOMER_ID, generate_leads
from .faults import FaultPlan
from .store import LeadStore

_FORWARDED_HEADERS = ("authorization", "x-customer-id", "idempotency-key", "content-type")
_MAX_BODY = 10 * 1024 * 1024
_FREEZE_GC_AT = 100_000


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_date_cache: list[Any] = [0, ""]


def _http_date() -> str:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0], _date_cache[1] = now, formatdate(now, usegmt=True)
    return str(_date_cache[1])


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    sim: SimulatorServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "MEGA-Simulator/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: per-request stderr lines cost more than serving a cached page."""

    def setup(self) -> None:
        super().setup()
        self.server.sim._track(self.connection, True)

    def finish(self) -> None:
        self.server.sim._track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> bytes | None:
        length = self.headers.get("content-length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            return None
        if size < 0 or size > _MAX_BODY:
            return None
        return self.rfile.read(size)

    def _dispatch(self, method: str) -> None:
        sim = self.server.sim
        path, _, raw_query = self.path.partition("?")
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._write(
                Response(
                    400,
                    b'{"error":{"type":"invalid_request_error","code":400,'
                    b'"message":"Bad Content-Length."}}',
                )
            )
            return
        if path.startswith("/_sim/"):
            self._write(sim._admin(method, path, query))
            return
        headers = {name: value for name in _FORWARDED_HEADERS if (value := self.headers.get(name))}
        self._write(sim.api.handle(method, path, query, headers, body))

    def _write(self, response: Response) -> None:
        if response.action == "drop":
            self.close_connection = True
            return
        closing = self.close_connection or response.action in ("truncate", "hang")
        lines = [
            f"HTTP/1.1 {response.status} {_reason(response.status)}",
            f"Server: {self.server_version}",
            f"Date: {_http_date()}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if closing:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            if response.action == "truncate":
                self.wfile.write(head + response.body[: len(response.body) // 2])
            elif response.action == "hang":
                self.wfile.write(head)
                time.sleep(response.hang_s)
                self.wfile.write(response.body)
            else:
                self.wfile.write(head + response.body)
        except OSError:
            closing = True
        if closing:
            self.close_connection = True


class SimulatorServer:
    """A local MEGA Public CRM Lead API. ``with SimulatorServer(n_leads=500) as sim: sim.url``.

    ``tokens`` maps token -> ``{"customer_id": ..., "scopes": [...]}`` (default: DEFAULT_TOKEN
    for DEFAULT_CUSTOMER_ID with read + write). Leads are generated for the first token's
    customer unless a ``store`` is given.
    """

    def __init__(
        self,
        store: LeadStore | None = None,
        n_leads: int = 0,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Mapping[str, Any] | None = None,
        rate_limit: int | None = None,
        rate_window_s: float = 60,
        latency_ms: float = 0,
        clock: Clock | None = None,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"refusing to bind non-loopback host {host!r}")
        self.tokens = normalize_tokens(tokens)
        if store is None:
            customer = (
                next(iter(self.tokens.values())).customer_id if tokens else DEFAULT_CUSTOMER_ID
            )
            store = LeadStore(clock or SystemClock(), customer)
            if n_leads:
                store.add_many(generate_leads(n_leads, seed, customer_id=customer))
                if n_leads >= _FREEZE_GC_AT:
                    # Park the dataset outside the cyclic GC: full collections would otherwise
                    # walk millions of dicts and stall serving for hundreds of milliseconds.
                    gc.freeze()
        self.store = store
        self.faults = FaultPlan()
        self.limiter = RateLimiter(rate_limit, rate_window_s)
        self.api = Api(store, self.tokens, self.limiter, self.faults, latency_ms / 1000)
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.sim = self
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()

    @property
    def clock(self) -> Clock:
        return self.store.clock

    @property
    def requests(self) -> list[RequestRecord]:
        """Logged API requests (not ``/_sim/`` ones), oldest first; a copy."""
        return self.api.requests

    def clear_requests(self) -> None:
        self.api.clear_requests()

    def store_for(self, customer_id: str) -> LeadStore:
        return self.api.store_for(customer_id)

    def start(self) -> SimulatorServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"mega-simulator-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread (the CLI)."""
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()
        # Idle keep-alive connections would otherwise keep their handler threads (and the
        # client's pooled sockets) alive after the server is gone.
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._conns_lock:
            if alive:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _admin(self, method: str, path: str, query: dict[str, str]) -> Response:
        """Unauthenticated control endpoints for a simulator running in another process."""
        try:
            if method == "POST" and path == "/_sim/touch":
                ids = self.store.touch(int(query.get("n", "1")), int(query.get("seed", "0")))
                return Response(200, orjson.dumps({"ids": ids, "version": self.store.version}))
            if method == "GET" and path == "/_sim/stats":
                stats = {
                    "leads": len(self.store),
                    "requests_served": self.api.served,
                    "version": self.store.version,
                }
                return Response(200, orjson.dumps(stats))
            if method == "POST" and path == "/_sim/reset_requests":
                self.clear_requests()
                return Response(200, b'{"ok":true}')
            if method == "GET" and path == "/_sim/snapshot":
                return Response(200, orjson.dumps(self.store.snapshot()))
        except ValueError:
            return Response(
                400,
                b'{"error":{"type":"invalid_request_error","code":400,'
                b'"message":"n and seed must be integers."}}',
            )
        return Response(
            404,
            b'{"error":{"type":"not_found_error","code":404,'
            b'"message":"Unknown simulator endpoint."}}',
        )
