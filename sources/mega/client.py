"""HTTP client of the MEGA Public CRM Lead API: auth headers, timeouts, one retry layer, pacing.

Retries: 429, 5xx, connect/read errors, timeouts and dropped connections, with capped
exponential backoff and jitter; ``Retry-After`` (seconds or HTTP date) is honoured, capped;
the total time spent retrying is bounded. Other 4xx are fatal and typed (``errors.py``).
On a 429, ``Retry-After`` wins over the answer's own ``RateLimit-*`` headers (RFC 9110 §10.2.3).
Until the server has answered once, a failure no retry can fix (refused, unresolvable host, TLS
to a plain-http port) fails at once with the likely fix instead of spending the retry budget.
Pacing: ``RateLimit-Remaining`` / ``RateLimit-Reset`` (001) let a long backfill pause before
the quota is gone instead of running into 429s.
"""

from __future__ import annotations

import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from sources.core.errors import (
    ConfigurationError,
    MalformedResponseError,
    MegaError,
    TransportError,
    api_error_for,
    one_line,
    redact,
)

from . import settings

log = logging.getLogger("mega")

_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
# OpenSSL's reasons when the other end answers a ClientHello in plain HTTP.
_PLAIN_HTTP_TLS_REASONS = frozenset(
    ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG")
)
_BASE_URL_SETTING = "SOURCES__MEGA__BASE_URL"


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = settings.MAX_RETRIES
    backoff_base_s: float = settings.BACKOFF_BASE_S
    backoff_max_s: float = settings.BACKOFF_MAX_S
    retry_after_max_s: float = settings.RETRY_AFTER_MAX_S
    max_retry_time_s: float = settings.MAX_RETRY_TIME_S

    def backoff(self, attempt: int) -> float:
        capped = min(self.backoff_max_s, self.backoff_base_s * (2**attempt))
        return capped * (0.5 + random.random() / 2)


@dataclass
class ClientStats:
    """Counters a run reports; shared by every thread of one run."""

    requests: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    rate_limit_wait_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "rate_limit_waits": self.rate_limit_waits,
                "rate_limit_wait_s": round(self.rate_limit_wait_s, 3),
            }


class RateLimitPacer:
    """Waits before a request when the last answer said the quota is (nearly) spent.

    One pacer is shared by every worker of a run, so they respect one budget together.
    """

    def __init__(
        self,
        reserve: int = settings.RATE_LIMIT_RESERVE,
        max_wait_s: float = settings.RETRY_AFTER_MAX_S,
        stats: ClientStats | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.reserve = reserve
        self.max_wait_s = max_wait_s
        self.stats = stats or ClientStats()
        self._sleep = sleep
        self._resume_at = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            delay = self._resume_at - time.monotonic()
        if delay > 0:
            log.info("rate limit nearly spent: pausing %.1f s before the next request", delay)
            self.stats.add(rate_limit_waits=1, rate_limit_wait_s=delay)
            self._sleep(delay)

    def observe(self, headers: Mapping[str, str]) -> None:
        remaining = _int_header(headers, "RateLimit-Remaining")
        reset = _int_header(headers, "RateLimit-Reset")
        if remaining is None or reset is None or remaining > self.reserve:
            return
        with self._lock:
            self._resume_at = max(
                self._resume_at, time.monotonic() + min(float(reset), self.max_wait_s)
            )

    def hold_until(self, delay_s: float) -> None:
        with self._lock:
            self._resume_at = max(self._resume_at, time.monotonic() + delay_s)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    try:
        return int(float(raw)) if raw is not None else None
    except ValueError:
        return None


def retry_after_seconds(value: str | None, cap: float) -> float | None:
    """``Retry-After`` as seconds: an integer, or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), cap)


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


def check_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"base_url must be an http(s) URL, got {base_url!r} (setting SOURCES__MEGA__BASE_URL)"
        )
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        raise ConfigurationError(
            "base_url uses plain http:// on a non-loopback host; the token would travel "
            "unencrypted. Use https:// (setting SOURCES__MEGA__BASE_URL)"
        )
    try:
        port = parts.port
    except ValueError:  # out of 0-65535, or not a number
        port = 0
    if port == 0:
        raise ConfigurationError(
            f"base_url port {parts.netloc.rpartition(':')[2]!r} is not a TCP port (1-65535) "
            "(setting SOURCES__MEGA__BASE_URL)"
        )
    return base_url.rstrip("/")


def unfixable_connect_failure(exc: httpx.TransportError, base_url: str) -> str | None:
    """The one-line reason and fix when ``exc`` is a failure no retry can fix; else None."""
    parts = urlsplit(base_url)
    host = parts.hostname or "?"
    where = f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    cause: BaseException = exc
    while (inner := cause.__cause__ or cause.__context__) is not None:
        cause = inner  # httpx wraps httpcore's error, which wraps the OSError
    if isinstance(cause, ConnectionRefusedError):
        return (
            f"cannot connect to {where}: connection refused; is the server running, "
            f"is {_BASE_URL_SETTING} right?"
        )
    if isinstance(cause, socket.gaierror):
        return (
            f"cannot resolve host {host} ({cause.strerror}); is {_BASE_URL_SETTING} right, "
            "and DNS reachable?"
        )
    if isinstance(cause, ssl.SSLError):
        reason = cause.reason or type(cause).__name__
        if reason in _PLAIN_HTTP_TLS_REASONS:
            return (
                f"TLS to {where} failed ({reason}): the server speaks plain http; use http:// "
                f"or check the port ({_BASE_URL_SETTING})"
            )
        return f"TLS to {where} failed ({reason}); check {_BASE_URL_SETTING} and the certificate"
    return None


class MegaClient:
    """One authenticated connection pool to the API. Thread-safe (httpx.Client is)."""

    def __init__(
        self,
        base_url: str,
        api_token: str,
        customer_id: str,
        *,
        timeout: httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        pacer: RateLimitPacer | None = None,
        stats: ClientStats | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self._secrets = (api_token,)
        self.retry = retry or RetryPolicy()
        self.stats = stats or (pacer.stats if pacer else ClientStats())
        self.pacer = pacer or RateLimitPacer(stats=self.stats, sleep=sleep)
        self._sleep = sleep
        self._customer_id = customer_id
        # Set by the first HTTP answer; shared by every thread of the run (see _attempt).
        self._answered = threading.Event()
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {api_token}",
                "x-customer-id": customer_id,
                "Accept": "application/json",
                "User-Agent": settings.USER_AGENT,
            },
            timeout=timeout
            or httpx.Timeout(
                connect=settings.CONNECT_TIMEOUT_S,
                read=settings.READ_TIMEOUT_S,
                write=settings.WRITE_TIMEOUT_S,
                pool=settings.POOL_TIMEOUT_S,
            ),
        )

    def close(self) -> None:
        self._http.close()

    def child_spec(self) -> dict[str, Any]:
        """What a fetch process needs to make the same requests (it holds the token: it goes
        to the child's stdin only, never to a log)."""
        timeout = self._http.timeout
        return {
            "base_url": self.base_url,
            "api_token": self._secrets[0],
            "customer_id": self._customer_id,
            "timeout": [timeout.connect, timeout.read, timeout.write, timeout.pool],
            "retry": asdict(self.retry),
            "rate_limit": [self.pacer.reserve, self.pacer.max_wait_s],
            # The child starts after the parent's first page: it keeps the full retry budget.
            "answered": self._answered.is_set(),
        }

    @classmethod
    def from_child_spec(cls, spec: Mapping[str, Any]) -> MegaClient:
        connect, read, write, pool = spec["timeout"]
        reserve, max_wait_s = spec["rate_limit"]
        stats = ClientStats()
        client = cls(
            spec["base_url"],
            spec["api_token"],
            spec["customer_id"],
            timeout=httpx.Timeout(connect=connect, read=read, write=write, pool=pool),
            retry=RetryPolicy(**spec["retry"]),
            pacer=RateLimitPacer(reserve=reserve, max_wait_s=max_wait_s, stats=stats),
        )
        if spec.get("answered", True):
            client._answered.set()
        return client

    def __enter__(self) -> MegaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def list_leads(self, params: Mapping[str, str], context: str = "") -> dict[str, Any]:
        return self.decode_object(self.list_leads_response(params, context), context)

    def list_leads_response(self, params: Mapping[str, str], context: str = "") -> httpx.Response:
        """A page, not yet decoded (see ``decode_object``)."""
        return self.request("GET", settings.LEADS_PATH, params=params, context=context)

    def create_lead(
        self, payload: Mapping[str, Any], idempotency_key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        response = self.request(
            "POST", settings.LEADS_PATH, json=payload, headers=headers, context="create lead"
        )
        body = self.decode_object(response, "create lead")
        if not isinstance(body.get("lead"), dict):
            raise MalformedResponseError("create lead: the answer has no `lead` object")
        return body["lead"]

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
        """Send with the retry policy; return a 2xx response or raise a typed MegaError."""
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
    ) -> tuple[httpx.Response | MegaError, float | None]:
        """One try: the response, or the retryable failure and the wait the server asked for."""
        self.stats.add(requests=1)
        try:
            response = self._http.request(method, path, params=params, json=json, headers=headers)
        except httpx.TransportError as exc:
            return self._transport_failure(exc, context), None
        self._answered.set()
        return self._judge(response, context)

    def _transport_failure(self, exc: httpx.TransportError, context: str) -> TransportError:
        """Connect/read/write errors, timeouts and dropped connections are retryable; but before
        the server ever answered, one no retry can fix is raised at once, with the likely fix."""
        reason = None if self._answered.is_set() else unfixable_connect_failure(exc, self.base_url)
        if reason is not None:
            raise TransportError(one_line(f"{redact(reason, self._secrets)} [{context}]")) from None
        text = redact(f"{type(exc).__name__}: {exc}", self._secrets)
        return TransportError(one_line(f"{text} [{context}]"))

    def _judge(
        self, response: httpx.Response, context: str
    ) -> tuple[httpx.Response | MegaError, float | None]:
        status = response.status_code
        wait = None
        if status == 429 or status >= 500:
            wait = retry_after_seconds(
                response.headers.get("Retry-After"), self.retry.retry_after_max_s
            )
        if status == 429 and wait is not None:
            # Retry-After is the server's instruction for this answer and wins over its quota
            # headers (RFC 9110 §10.2.3), whose reset is often far longer. The pacer sleeps it.
            self.pacer.hold_until(wait)
        else:
            self.pacer.observe(response.headers)
        if status < 400:
            return response, None
        error = self._api_error(response, context)
        if status != 429 and status < 500:
            raise error
        return error, 0.0 if status == 429 and wait is not None else wait

    def _exhausted(self, failure: MegaError, attempts: int) -> MegaError:
        failure.args = (f"{failure.args[0]} (gave up after {attempts} attempts)",)
        return failure

    def _api_error(self, response: httpx.Response, context: str) -> MegaError:
        error_type, message = "unknown", response.reason_phrase or "no message"
        try:
            body = orjson.loads(response.content)
            detail = body["error"] if isinstance(body, dict) else None
            if isinstance(detail, dict):
                error_type = str(detail.get("type", error_type))
                message = str(detail.get("message", message))
        except (orjson.JSONDecodeError, KeyError):
            pass
        message = redact(message, self._secrets)
        return api_error_for(response.status_code, error_type, message, context)
