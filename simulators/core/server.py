"""A simulator's server: binds loopback only, serves an ``ApiCore`` in a daemon thread (or the
calling one), closes idle keep-alive connections on stop, and answers the ``/_sim/`` admin
endpoints that a simulator in another process is driven by."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import Counter
from types import TracebackType
from typing import Any, TypeVar

import orjson

from .accounts import Account, Accounts
from .api import ApiCore
from .errors import ApiError, api_error_response
from .faults import FaultPlan
from .http import Handler, HTTPServer, is_loopback
from .messages import Response
from .ratelimit import RateLimiter
from .request_log import RequestRecord

_S = TypeVar("_S", bound="ServerCore")


class ServerCore:
    """Subclasses set ``self.api`` (before or after ``super().__init__``: nothing is served
    before :meth:`start`) and may add admin endpoints (:meth:`admin`) and stats (:meth:`stats`).
    One started with accounts (``self.api.accounts``) says what points a run at each one
    (:meth:`settings_of`)."""

    server_version = "Simulator/1.0"
    thread_name = "simulator"
    api: ApiCore

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if not is_loopback(host):
            raise ValueError(f"refusing to bind non-loopback host {host!r}")
        self._httpd = HTTPServer((host, port), Handler)
        self._httpd.sim = self
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()

    @property
    def requests(self) -> list[RequestRecord]:
        """Logged API requests (not ``/_sim/`` ones), oldest first; a copy."""
        return self.api.requests

    def clear_requests(self) -> None:
        self.api.clear_requests()

    def hold_answers(self, seconds: float) -> None:
        self.api.hold_answers(seconds)

    def start(self: _S) -> _S:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{self.thread_name}-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread (the CLI)."""
        self._httpd.serve_forever(poll_interval=0.2)

    def request_shutdown(self) -> None:
        """Make :meth:`serve_forever` return, from a signal handler too (it does not block)."""
        # shutdown() blocks until serve_forever returns, so it cannot run in the serving thread.
        threading.Thread(target=self._httpd.shutdown, daemon=True).start()

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

    def __enter__(self: _S) -> _S:
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

    # ----- accounts --------------------------------------------------------------------------

    def settings_of(self, account: Account) -> dict[str, str]:
        """The settings that point a run at ``account`` (the source's or target's names)."""
        raise NotImplementedError

    @property
    def accounts(self) -> list[Account]:
        """The accounts served, in the order given (empty: started the single-tenant way)."""
        return list(self.api.accounts) if self.api.accounts is not None else []

    def _accounts(self) -> Accounts:
        if self.api.accounts is None:
            raise LookupError("this simulator was started without accounts")
        return self.api.accounts

    def account(self, name: str) -> Account:
        return self._accounts()[name]

    def account_settings(self, name: str) -> dict[str, str]:
        """E.g. MEGA's ``{"base_url", "api_token", "customer_id"}`` of account ``name``."""
        return self.settings_of(self.account(name))

    def revoke(self, name: str) -> None:
        """Refuse the account's token from now on, as the API refuses an invalid one (401)."""
        self._accounts().revoke(name)

    def reinstate(self, name: str) -> None:
        self._accounts().reinstate(name)

    def account_faults(self, name: str) -> FaultPlan:
        """The faults only the account's requests meet (e.g. an outage of one account)."""
        return self._accounts().faults(name)

    def account_limiter(self, name: str) -> RateLimiter:
        """The account's own rate-limit budget."""
        return self._accounts().limiter(name)

    def requests_of(self, name: str) -> list[RequestRecord]:
        """Logged requests that carried the account's token (revoked or not), oldest first."""
        account = self.account(name)
        return [r for r in self.requests if r.account == account.name]

    # ----- admin endpoints (unauthenticated, loopback only) ----------------------------------

    def admin(self, method: str, path: str, query: dict[str, str]) -> Response | None:
        """An API's own ``/_sim/`` endpoints; None: not one of them."""
        return None

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = {"requests_served": self.api.served}
        if self.api.accounts is not None:
            # Per account, as a test driving a simulator in another process reads them.
            counts = Counter(record.account for record in self.requests)
            stats["accounts"] = {
                a.name: {"requests": counts[a.name], "revoked": self.api.accounts.revoked(a.name)}
                for a in self.api.accounts
            }
        return stats

    def _admin(self, method: str, path: str, query: dict[str, str]) -> Response:
        try:
            response = self.admin(method, path, query)
            if response is not None:
                return response
            if method == "GET" and path == "/_sim/stats":
                return Response(200, orjson.dumps(self.stats()))
            if method == "POST" and path == "/_sim/reset_requests":
                self.clear_requests()
                return Response(200, b'{"ok":true}')
            if method == "POST" and path in ("/_sim/revoke", "/_sim/reinstate"):
                return self._admin_revoke(path == "/_sim/revoke", query.get("account", ""))
        except ApiError as exc:
            return api_error_response(self.api.error_shape, exc)
        return self.api.error(404, "Unknown simulator endpoint.")

    def _admin_revoke(self, revoke: bool, name: str) -> Response:
        """``POST /_sim/revoke?account=<name>`` (and ``/_sim/reinstate``)."""
        try:
            (self.revoke if revoke else self.reinstate)(name)
        except LookupError as exc:  # no such account, or a server without accounts
            return self.api.error(404, str(exc.args[0]))
        return Response(200, orjson.dumps({"account": name, "revoked": revoke}))
