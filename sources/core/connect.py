"""Where a client connects: the base URL checked before any request, and the diagnosis of a
first connection that no retry can fix (refused, unresolvable host, TLS to a plain-http port).

Messages name ``setting``, the API package's setting (environment variable) for the base URL.
"""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

import httpx

from .errors import ConfigurationError

_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
# OpenSSL's reasons when the other end answers a ClientHello in plain HTTP.
_PLAIN_HTTP_TLS_REASONS = frozenset(
    ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG")
)


def check_base_url(base_url: str, setting: str) -> str:
    """``base_url`` without its trailing slash; a ConfigurationError naming ``setting`` if it is
    not http(s), is plain http off loopback (the token would travel unencrypted), or its port
    is not a TCP port."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"base_url must be an http(s) URL, got {base_url!r} (setting {setting})"
        )
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        raise ConfigurationError(
            "base_url uses plain http:// on a non-loopback host; the token would travel "
            f"unencrypted. Use https:// (setting {setting})"
        )
    try:
        port = parts.port
    except ValueError:  # out of 0-65535, or not a number
        port = 0
    if port == 0:
        raise ConfigurationError(
            f"base_url port {parts.netloc.rpartition(':')[2]!r} is not a TCP port (1-65535) "
            f"(setting {setting})"
        )
    return base_url.rstrip("/")


def unfixable_connect_failure(exc: httpx.TransportError, base_url: str, setting: str) -> str | None:
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
            f"is {setting} right?"
        )
    if isinstance(cause, socket.gaierror):
        return (
            f"cannot resolve host {host} ({cause.strerror}); is {setting} right, and DNS reachable?"
        )
    if isinstance(cause, ssl.SSLError):
        reason = cause.reason or type(cause).__name__
        if reason in _PLAIN_HTTP_TLS_REASONS:
            return (
                f"TLS to {where} failed ({reason}): the server speaks plain http; use http:// "
                f"or check the port ({setting})"
            )
        return f"TLS to {where} failed ({reason}); check {setting} and the certificate"
    return None
