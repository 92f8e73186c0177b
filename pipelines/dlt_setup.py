"""Make dlt read this project's settings from ``dlt_config/``.

dlt reads ``DLT_CONFIG_FOLDER`` only once, when it is first imported, so an orchestrator that
imported dlt earlier would silently miss our folder. Registering the folder's toml files as extra
providers works whatever the import order; environment variables still win over them.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
_registered: set[str] = set()


def config_dir() -> Path:
    """``MEGA_DLT_CONFIG_DIR`` if set, else ``dlt_config/`` of this project."""
    return Path(os.environ.get("MEGA_DLT_CONFIG_DIR") or PROJECT_DIR / "dlt_config")


def configure_dlt() -> None:
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.providers import SettingsTomlProvider
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    folder = str(config_dir())
    if folder in _registered:
        return
    providers = Container()[PluggableRunContext].providers
    for file_name, secret in (("config.toml", False), ("secrets.toml", True)):
        name = f"mega_{file_name}@{folder}"
        if name not in providers:
            providers.add_provider(SettingsTomlProvider(name, secret, file_name, [folder]))
    _registered.add(folder)
