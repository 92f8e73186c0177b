"""A destination asked once for its capabilities per run.

dlt's pipeline asks the destination for its capabilities a dozen times a run (each step, each
client, each `sql_client`), and each time dlt resolves the destination's whole configuration
again from every provider: ~10 ms a time, 0.1 s of a no-change run. Nothing they depend on
changes during a run (a run resolves its warehouse anew), so the first answer is kept, and each
caller gets a copy of its own: dlt's pipeline edits the one it gets.
"""

from __future__ import annotations

import copy
from typing import Any


class _Capabilities:
    """``capabilities(config=None, naming=None)`` of ``factory``, kept per naming convention;
    a call with a resolved config (a client's) is passed through."""

    def __init__(self, capabilities: Any) -> None:
        self._capabilities = capabilities
        self._kept: dict[Any, Any] = {}

    def __call__(self, config: Any = None, naming: Any = None) -> Any:
        if config is not None:
            return self._capabilities(config, naming)
        key = None if naming is None else (type(naming), naming.max_length)
        if key not in self._kept:
            self._kept[key] = self._capabilities(None, naming)
        return self._kept[key].copy()


def capabilities_once(factory: Any) -> Any:
    """A copy of the dlt destination ``factory`` (the caller's is left as it was) whose
    capabilities without a config are resolved once."""
    own = copy.copy(factory)
    own.capabilities = _Capabilities(factory.capabilities)
    return own
