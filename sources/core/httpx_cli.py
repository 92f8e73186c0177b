"""httpx without its command-line client.

httpx's package imports its CLI (``httpx._main``: click, rich, pygments; ~60 modules, a tenth of
the connector's start-up) whenever those are installed, and dlt installs them. A run needs the
client only: a stand-in answers that one import, and ``httpx.main`` (the ``httpx`` command)
still imports the real CLI when it is called.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

CLI_MODULE = "httpx._main"


def import_httpx_without_cli() -> None:
    """Import httpx, its CLI left out; nothing to do once httpx is imported."""
    if "httpx" in sys.modules or CLI_MODULE in sys.modules:
        return
    stand_in = ModuleType(CLI_MODULE)
    setattr(stand_in, "main", _cli)  # noqa: B010  # what httpx imports from it
    sys.modules[CLI_MODULE] = stand_in
    try:
        import httpx  # noqa: F401
    finally:
        # Gone again: whoever imports the CLI later gets the real one.
        if sys.modules.get(CLI_MODULE) is stand_in:
            del sys.modules[CLI_MODULE]


def _cli(*args: Any, **kwargs: Any) -> Any:
    from httpx._main import main

    return main(*args, **kwargs)
