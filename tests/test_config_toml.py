"""``dlt_config/config.toml`` lists every setting the connector declares, under its section and
with its default (secrets in ``secrets.toml.example``): a setting added to a spec and not to the
file, or a default changed in one place only, fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from dlt.common.configuration.specs.base_configuration import is_secret_hint

from pipelines.push import TARGETS
from pipelines.registry import SOURCES
from sources.core.settings import ConnectorSettings, setting_names

FOLDER = Path(__file__).resolve().parents[1] / "dlt_config"
# `# name = value` or `name = value`, a comment after it.
_ENTRY = re.compile(r"^#?\s*([a-z0-9_]+)\s*=\s*(.+?)\s*(?:#.*)?$")


def declared_specs() -> list[type[ConnectorSettings]]:
    found, todo = [], list(ConnectorSettings.__subclasses__())
    while todo:
        spec = todo.pop()
        todo.extend(spec.__subclasses__())
        if spec.__setting_section__:
            found.append(spec)
    return sorted(set(found), key=lambda spec: spec.sections())


def listed(file_name: str, section: str) -> dict[str, Any]:
    """The entries of ``[section]`` in a settings file, commented out or not: name -> value."""
    entries: dict[str, Any] = {}
    current = None
    for line in (FOLDER / file_name).read_text(encoding="utf-8").splitlines():
        header = re.match(r"^#?\s*\[([a-z0-9_.]+)\]\s*$", line)
        if header:
            current = header.group(1)
            continue
        found = _ENTRY.match(line)
        if current == section and found:
            try:
                value = tomlkit.parse(f"v = {found.group(2)}").unwrap()["v"]
            except tomlkit.exceptions.ParseError:
                continue
            entries[found.group(1)] = value
    return entries


def test_every_spec_is_found() -> None:
    """Every registered source's and push target's spec (a spec the search misses would go
    unchecked)."""
    names = {".".join(spec.sections()[:2]) for spec in declared_specs()}
    assert names == {f"sources.{name}" for name in SOURCES} | {
        f"destination.{name}" for name in TARGETS
    }
    assert {"sources.mega", "sources.leads_v1", "destination.apollo"} <= names


@pytest.mark.parametrize("spec", declared_specs(), ids=lambda spec: ".".join(spec.sections()[:2]))
def test_config_toml_lists_every_setting_with_its_default(spec: type[ConnectorSettings]) -> None:
    section = ".".join(spec.sections()[:2])
    config, secrets = listed("config.toml", section), listed("secrets.toml.example", section)
    hints = spec.get_resolvable_fields()
    defaults = spec()
    for name in setting_names(spec):
        if is_secret_hint(hints[name]):
            assert name in secrets, f"{name} of [{section}] is not in secrets.toml.example"
            continue
        assert name in config, f"{name} of [{section}] is not in config.toml"
        default = getattr(defaults, name)
        if default is not None:
            assert config[name] == default, f"[{section}] {name}: config.toml says {config[name]!r}"
