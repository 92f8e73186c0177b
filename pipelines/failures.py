"""One-line reasons for a failed run: dlt wraps what fails inside it, often several times deep;
the user needs the root cause, not the wrapper's generic text."""

from __future__ import annotations

from pipelines.result import RunFailed
from sources.mega.errors import MegaError, one_line


def root_error(exc: BaseException) -> BaseException:
    """Our own error if one is in the chain (dlt wraps what a resource raises), else the deepest."""
    seen: set[int] = set()
    current: BaseException | None = exc
    deepest = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, MegaError) and not isinstance(current, RunFailed):
            return current
        seen.add(id(current))
        deepest = current
        nested = getattr(current, "exception", None)
        current = nested if isinstance(nested, BaseException) else current.__cause__
    return deepest


def explain(exc: BaseException) -> str:
    """The most specific one-line reason."""
    root = root_error(exc)
    if isinstance(root, MegaError):
        return str(root)
    return one_line(f"{type(root).__name__}: {root}")
