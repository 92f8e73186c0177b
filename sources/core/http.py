"""The HTTP client every API package shares: timeouts, one retry layer, pacing, typed errors.

Retries follow a named ``RetryPolicy`` (``retry.py``): by default 429, 5xx, connect/read
errors, timeouts and dropped connections, with capped exponential backoff and jitter;
``Retry-After`` (seconds or HTTP date) is honoured, capped; the total time spent retrying is
bounded. Other 4xx are fatal and typed (``errors.py``). On a 429, ``Retry-After`` wins over
the answer's own ``RateLimit-*`` headers (RFC 9110 §10.2.3). Until the server has answered
once, a failure no retry can fix (refused, unresolvable host, TLS to a plain-http port) fails
at once with the likely fix instead of spending the retry budget (``connect.py``).

An API package supplies only its base URL (and the setting that holds it), its auth headers,
the secrets to keep out of messages, and how its error body reads (``ErrorReader``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import orjson

from .connect import check_base_url, unfixable_connect_failure
from .errors import (
    ConnectorError,
    MalformedResponseError,
    TransportError,
    api_error_for,
    one_line,
    redact,
)
from .pacing import ClientStats, RateLimitPacer
from .retry import DEFAULT_RETRY, RetryPolicy

# The project's one logger: runs, tests and the fetch process's log forwarding listen to it.
log = logging.getLogger("crm_leads.core")

USER_AGENT = "mega-leads-connector/0.1 (+dlt)"
# Seconds; each API's settings start from these.
CONNECT_TIMEOUT_S, READ_TIMEOUT_S, WRITE_TIMEOUT_S, POOL_TIMEOUT_S = 10.0, 60.0, 30.0, 10.0
DEFAULT_TIMEOUT = httpx.Timeout(
    connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S, write=WRITE_TIMEOUT_S, pool=POOL_TIMEOUT_S
)

# An error answer's (error type, message), read from its body by the API package.
ErrorReader = Callable[[httpx.Response], tuple[str, str]]


def json_object(content: bytes, context: str, described: str = "") -> dict[str, Any]:
    """A JSON object body, decoded; else a one-line MalformedResponseError."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise MalformedResponseError(
            f"{context}: the body is not JSON ({described}{len(content)} bytes): {exc}"
        ) from None
    if not isinstance(body, dict):
        raise MalformedResponseError(f"{context}: the body is JSON but not an object")
    return body


def with_defaults(given: Mapping[str, Any], **defaults: Any) -> dict[str, Any]:
    """An API client's options for ``HttpClient``: those given (None: not given) over the
    API's own defaults."""
    return {**defaults, **{name: value for name, value in given.items() if value is not None}}


class HttpClient:
    """One connection pool to one API. Thread-safe (httpx.Client is)."""

    def __init__(
        self,
        base_url: str,
        *,
        base_url_setting: str,
        auth_headers: Mapping[str, str],
        secrets: tuple[str, ...],
        read_error: ErrorReader,
        timeout: httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        pacer: RateLimitPacer | None = None,
        stats: ClientStats | None = None,
        sleep: Callable[[float], None] = time.sleep,
        answered: bool = False,
    ) -> None:
        self.base_url = check_base_url(base_url, base_url_setting)
        self._base_url_setting = base_url_setting
        self._secrets = secrets
        self._read_error = read_error
        self.retry = retry or DEFAULT_RETRY
        self.stats = stats or (pacer.stats if pacer else ClientStats())
        self.pacer = pacer or RateLimitPacer(stats=self.stats, sleep=sleep)
        self._sleep = sleep
        # Set by the first HTTP answer; shared by every thread of the run (see _attempt).
        self._answered = threading.Event()
        if answered:
            self._answered.set()
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={**auth_headers, "Accept": "application/json", "User-Agent": USER_AGENT},
            timeout=timeout or DEFAULT_TIMEOUT,
        )

    def close(self) -> None:
        self._http.close()

    def spec(self) -> dict[str, Any]:
        """What another process needs to make requests the same way, credentials aside (the
        API package adds them); JSON-ready. ``options_from_spec`` reads it back."""
        timeout = self._http.timeout
        return {
            "base_url": self.base_url,
            "timeout": [timeout.connect, timeout.read, timeout.write, timeout.pool],
            "retry": self.retry.to_dict(),
            "rate_limit": [self.pacer.reserve, self.pacer.max_wait_s],
            # A process started after the first answer keeps the full retry budget.
            "answered": self._answered.is_set(),
        }

    @staticmethod
    def options_from_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments (timeout, retry, pacer, answered) that ``spec`` describes; the
        new client counts its own requests."""
        connect, read, write, pool = spec["timeout"]
        reserve, max_wait_s = spec["rate_limit"]
        return {
            "timeout": httpx.Timeout(connect=connect, read=read, write=write, pool=pool),
            "retry": RetryPolicy.from_dict(spec["retry"]),
            "pacer": RateLimitPacer(reserve=reserve, max_wait_s=max_wait_s, stats=ClientStats()),
            "answered": spec.get("answered", True),
        }

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def decode_object(self, response: httpx.Response, context: str) -> dict[str, Any]:
        ctype = response.headers.get("content-type", "?")
        return json_object(response.content, context, f"content-type {ctype}, ")

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        context: str = "",
    ) -> httpx.Response:
        """Send with the retry policy; return a 2xx response or raise a typed ConnectorError."""
        deadline = time.monotonic() + self.retry.max_retry_time_s
        attempt = 0
        while True:
            self.pacer.wait()
            failure, server_wait = self._attempt(method, path, params, json, headers, context)
            if isinstance(failure, httpx.Response):
                return failure
            delay = self.retry.backoff(attempt) if server_wait is None else server_wait
            attempt += 1
            if attempt > self.retry.max_retries or time.monotonic() + delay > deadline:
                raise self._exhausted(failure, attempt)
            self.stats.add(retries=1)
            log.warning("retry %d in %.1f s: %s", attempt, delay, failure)
            self._sleep(delay)

    def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        context: str,
    ) -> tuple[httpx.Response | ConnectorError, float | None]:
        """One try: the response, or the retryable failure and the wait the server asked for."""
        self.stats.add(requests=1)
        try:
            response = self._http.request(method, path, params=params, json=json, headers=headers)
        except httpx.TransportError as exc:
            return self._transport_failure(exc, context), None
        self._answered.set()
        return self._judge(response, context)

    def _transport_failure(self, exc: httpx.TransportError, context: str) -> TransportError:
        """Connect/read/write errors, timeouts and dropped connections are retryable (if the
        policy says so); but before the server ever answered, one no retry can fix is raised at
        once, with the likely fix."""
        reason = None
        if not self._answered.is_set():
            reason = unfixable_connect_failure(exc, self.base_url, self._base_url_setting)
        if reason is not None:
            raise TransportError(one_line(f"{redact(reason, self._secrets)} [{context}]")) from None
        text = redact(f"{type(exc).__name__}: {exc}", self._secrets)
        failure = TransportError(one_line(f"{text} [{context}]"))
        if not self.retry.retry_transport:
            raise failure
        return failure

    def _judge(
        self, response: httpx.Response, context: str
    ) -> tuple[httpx.Response | ConnectorError, float | None]:
        status = response.status_code
        retryable = status in self.retry.retry_statuses
        wait = None
        if retryable:
            wait = self.retry.retry_after_seconds(response.headers.get("Retry-After"))
        if status == 429 and wait is not None:
            # Retry-After is the server's instruction for this answer and wins over its quota
            # headers (RFC 9110 §10.2.3), whose reset is often far longer. The pacer sleeps it.
            self.pacer.hold_until(wait)
        else:
            self.pacer.observe(response.headers)
        if status < 400:
            return response, None
        error = self._api_error(response, context)
        if not retryable:
            raise error
        return error, 0.0 if status == 429 and wait is not None else wait

    def _exhausted(self, failure: ConnectorError, attempts: int) -> ConnectorError:
        failure.args = (f"{failure.args[0]} (gave up after {attempts} attempts)",)
        return failure

    def _api_error(self, response: httpx.Response, context: str) -> ConnectorError:
        error_type, message = self._read_error(response)
        message = redact(message, self._secrets)
        return api_error_for(response.status_code, error_type, message, context)
