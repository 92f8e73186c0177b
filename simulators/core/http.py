"""The HTTP layer: a keep-alive ``ThreadingHTTPServer`` whose handler feeds an ``ApiCore``.

Responses are written as one prebuilt buffer (status line, headers and body in a single
``write``) with Nagle off: a separate header write followed by a body write is what makes
naive ``http.server`` keep-alive clients stall for the delayed-ACK timeout.
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from .messages import Request, Response

if TYPE_CHECKING:
    from .server import ServerCore

_MAX_BODY = 10 * 1024 * 1024


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


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    sim: ServerCore


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sys_version = ""
    disable_nagle_algorithm = True
    server: HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: per-request stderr lines cost more than serving a cached page."""

    def setup(self) -> None:
        super().setup()
        # Per API ("MEGA-Simulator/1.0"), also in the answers http.server writes itself.
        self.server_version = self.server.sim.server_version
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
            self._write(sim.api.error(400, "Bad Content-Length."))
            return
        if path.startswith("/_sim/"):
            self._write(sim._admin(method, path, query))
            return
        names = sim.api.forwarded_headers
        headers = {name: value for name in names if (value := self.headers.get(name))}
        self._write(sim.api.handle(Request(method, path, query, headers, body)))

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
