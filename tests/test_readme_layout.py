"""The README's Layout section names every module of the product packages, in its folder's
entry (a subfolder without its own entry is described in its parent's)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import PROJECT

PACKAGES = ("sources", "pipelines", "push_targets", "warehouses", "orchestrators")


def layout_entries() -> dict[str, str]:
    """Folder (``sources/core``) → the text of its Layout entry."""
    readme = (PROJECT / "README.md").read_text()
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    entries = {}
    for entry in re.split(r"\n- ", section)[1:]:
        folder = re.match(r"`([\w/]+)/`", entry)
        if folder:
            entries[folder.group(1)] = entry
    return entries


def modules() -> list[Path]:
    found = (path for package in PACKAGES for path in (PROJECT / package).rglob("*.py"))
    return sorted(path.relative_to(PROJECT) for path in found if path.name != "__init__.py")


@pytest.mark.parametrize("module", modules(), ids=str)
def test_the_layout_names_every_module(module: Path) -> None:
    entries = layout_entries()
    folder = module.parent
    while folder.as_posix() not in entries:
        assert folder.parent != Path("."), f"no Layout entry for {module.parent}/"
        folder = folder.parent
    named = re.search(rf"(?<![\w/]){re.escape(module.name)}", entries[folder.as_posix()])
    assert named, f"README Layout: the entry of {folder}/ does not name {module}"
