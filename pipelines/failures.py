"""One-line reasons for a failed run: dlt wraps what fails inside it, often several times deep;
the user needs the root cause, not the wrapper's generic text."""

from __future__ import annotations

import errno
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from pipelines.result import RunFailed
from sources.core.errors import AuthenticationError, ConnectorError, one_line

# Where dlt's exceptions keep the one they wrap when it is not their `__cause__`.
_WRAPPED = (
    "exception",
    "client_exception",
    "job_exception",
    "inner_exception",
    "inner_exc",
    "dbapi_exception",
)
_DISK_FULL = "No space left on device"


def root_error(exc: BaseException) -> BaseException:
    """Our own error if one is in the chain (dlt wraps what a resource raises), else the deepest."""
    seen: set[int] = set()
    current: BaseException | None = exc
    deepest = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ConnectorError) and not isinstance(current, RunFailed):
            return current
        seen.add(id(current))
        deepest = current
        current = _wrapped(current)
    return deepest


def _wrapped(exc: BaseException) -> BaseException | None:
    for name in _WRAPPED:
        nested = getattr(exc, name, None)
        if isinstance(nested, BaseException):
            return nested
    return exc.__cause__


def explain(exc: BaseException, paths: Sequence[str | Path] = ()) -> str:
    """The most specific one-line reason. ``paths``: where the run writes (dlt's working folder,
    the warehouse file), to name the one that filled up when the OS does not say."""
    root = root_error(exc)
    if isinstance(root, ConnectorError):
        return str(root)
    text = one_line(f"{type(root).__name__}: {root}")
    if (isinstance(root, OSError) and root.errno == errno.ENOSPC) or _DISK_FULL in text:
        return disk_full(root, text, paths)
    return text


def disk_full(root: BaseException, text: str, paths: Sequence[str | Path]) -> str:
    where = getattr(root, "filename", None) or _fullest(paths)
    place = f" writing {where}" if where and str(where) not in text else ""
    return one_line(
        f"disk full{place}: {text}; free space there and run again (committed data stays)"
    )


def _fullest(paths: Sequence[str | Path]) -> str | None:
    """Of the places the run writes, the one on the file system with the least room left."""
    room: dict[str, int] = {}
    for path in paths:
        existing = Path(path)
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        try:
            room[str(path)] = shutil.disk_usage(existing).free
        except OSError:
            continue
    return min(room, key=room.__getitem__) if room else None


class NoTracebacks(logging.Filter):
    """dlt logs each failed load job with its whole traceback, five times as it retries; the run
    ends with the same cause in one line. Its other warnings stay visible, on one line each."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info or record.exc_text or "Traceback (most recent call last)" in message:
            return False
        record.msg, record.args = one_line(message, limit=1000), None
        return True


def token_hint(exc: BaseException, token: str) -> str:
    """``exc``'s reason; for a refused token (401) ending with the token's variable and where it
    was read (``token``: ``ConnectorSettings.origin``), unless it names it already."""
    reason = str(exc)
    if isinstance(root_error(exc), AuthenticationError) and token.split()[0] not in reason:
        return f"{reason}; check {token}"
    return reason
