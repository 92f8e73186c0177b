"""The data dictionary is checked against the live schemas: every column the sources load has a
description, and docs/DATA_DICTIONARY.md and the dbt package's sources.yml are what the generator
makes of them today."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from pipelines import dbt_sources, dictionary
from pipelines.registry import SOURCES


@pytest.fixture(scope="module")
def live() -> dict[str, Any]:
    return dictionary.live_schemas()


def test_every_loaded_column_is_described_and_the_dictionary_is_current(
    live: dict[str, Any],
) -> None:
    known = dictionary.descriptions()

    assert dictionary.missing(live, known) == []
    assert dictionary.DICTIONARY.read_text(encoding="utf-8") == dictionary.render(live, known)
    text = dictionary.DICTIONARY.read_text(encoding="utf-8")
    assert "| `contact_email` | text | yes |" in text  # personal data is marked
    assert "### `leads__custom_fields`" in text and "### `_leads_v1_runs`" in text


def test_the_dbt_sources_are_current_and_carry_the_same_descriptions(
    live: dict[str, Any],
) -> None:
    known = dictionary.descriptions()
    text = dbt_sources.SOURCES_YAML.read_text(encoding="utf-8")

    assert text == dbt_sources.render_sources(live, known)
    sources = {source["name"]: source for source in yaml.safe_load(text)["sources"]}
    assert list(sources) == list(SOURCES)  # every registered source, in its order
    tables = {table["name"]: table for table in sources["leads_v1"]["tables"]}
    email = next(c for c in tables["leads"]["columns"] if c["name"] == "email")
    assert email == {
        "name": "email",
        "description": known["leads_v1"]["leads"]["email"]["description"],
        "data_type": "text",
        "meta": {"pii": True, "source_field": "email"},
    }
    assert tables["_leads_v1_runs"]["loaded_at_field"] == "finished_at"


def test_a_column_added_without_a_description_fails_the_check(live: dict[str, Any]) -> None:
    schemas = {name: copy.deepcopy(schema) for name, schema in live.items()}
    schemas["leads_v1"].tables["leads"]["columns"]["favourite_colour"] = {
        "name": "favourite_colour",
        "data_type": "text",
    }

    assert dictionary.missing(schemas, dictionary.descriptions()) == [
        "leads_v1.leads.favourite_colour"
    ]
