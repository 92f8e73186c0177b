"""Make dlt read this project's settings from ``dlt_config/``.

dlt reads ``DLT_CONFIG_FOLDER`` only once, when it is first imported, so an orchestrator that
imported dlt earlier would silently miss our folder. Registering the folder's toml files as extra
providers works whatever the import order; environment variables still win over them.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

from .errors import ConfigurationError

PROJECT_DIR = Path(__file__).resolve().parents[2]
CONFIG_DIR_VARIABLE = "MEGA_DLT_CONFIG_DIR"
_registered: set[str] = set()
_PROVIDER_PREFIX = "mega_"


def provider_file(provider_name: str) -> Path | None:
    """The file a provider ``configure_dlt`` registered reads (None: another provider)."""
    name, at, folder = provider_name.partition("@")
    if not at or not name.startswith(_PROVIDER_PREFIX):
        return None
    return Path(folder) / name.removeprefix(_PROVIDER_PREFIX)


def config_dir() -> Path:
    """``MEGA_DLT_CONFIG_DIR`` if set, else ``dlt_config/`` of this project; absolute."""
    return Path(os.environ.get(CONFIG_DIR_VARIABLE) or PROJECT_DIR / "dlt_config").resolve()


def configure_dlt() -> None:
    """Register the folder's toml files with dlt. Never raises: this runs when the entrypoint is
    imported, and a broken file must fail the run with one line (``check_config``), not the
    import with a traceback."""
    _register(config_dir())


def check_config() -> None:
    """Raise the configuration folder's problem, if it has one; else make sure it is read."""
    problem = _register(config_dir())
    if problem is not None:
        raise problem


def _register(folder: Path) -> ConfigurationError | None:
    """The folder's files read once, by dlt's own toml providers (the parser dlt reads them
    with, so both agree on what is valid), and registered; or the problem that stops it. A
    folder registered is not read again: dlt answers from what it read."""
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.providers import SettingsTomlProvider
    from dlt.common.configuration.providers.toml import TomlProviderReadException
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    if str(folder) in _registered:
        return None
    if not folder.is_dir():
        return ConfigurationError(
            f"the settings folder {folder} does not exist (environment variable "
            f"{CONFIG_DIR_VARIABLE}); point it at a folder holding config.toml / secrets.toml"
        )
    providers = Container()[PluggableRunContext].providers
    read = []
    for file_name, secret in (("config.toml", False), ("secrets.toml", True)):
        name = f"{_PROVIDER_PREFIX}{file_name}@{folder}"
        if name in providers:
            continue
        try:
            read.append(SettingsTomlProvider(name, secret, file_name, [str(folder)]))
        except TomlProviderReadException as exc:
            # dlt's text is its own preamble, a line break, then the parser's reason.
            reason = str(exc).split(":\n", 1)[-1]
            return ConfigurationError(f"{folder / file_name} cannot be read as TOML: {reason}")
    for provider in read:
        providers.add_provider(provider)
    _registered.add(str(folder))
    return None


def project_path(name: str) -> Path:
    """``name`` made absolute: a relative path is taken from the project folder, the folder that
    holds the settings folder (``dlt_config/``), not from the working directory."""
    path = Path(name).expanduser()
    return path if path.is_absolute() or name.startswith(":") else config_dir().parent / path


_URL_PARSER = "dlt.common.libs.sql_alchemy_compat"


def parse_urls_without_sqlalchemy() -> None:
    """dlt parses connection strings with SQLAlchemy's ``make_url`` when SQLAlchemy is installed
    (it is, for the sqlalchemy warehouse) and with its own port of it otherwise; importing
    SQLAlchemy costs ~0.17 s of a command's start-up. A command whose destination hands no URL
    to SQLAlchemy uses dlt's port. Commands only: ``run()`` leaves the interpreter as it was."""
    if _URL_PARSER in sys.modules:
        return
    from dlt.common.libs import sql_alchemy_shims

    parser = types.ModuleType(_URL_PARSER)
    parser.URL = sql_alchemy_shims.URL  # type: ignore[attr-defined]
    parser.make_url = sql_alchemy_shims.make_url  # type: ignore[attr-defined]
    sys.modules[_URL_PARSER] = parser
