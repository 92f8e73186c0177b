"""Rows a push would reject one by one for one reason are refused whole, in one line, before any
request (exit 2): a key or mapped column the rows lack, a field no column gives, a repeated key,
a token that cannot be one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.push import push
from simulators.apollo import DEFAULT_ORGANIZATION_ID, ApolloServer
from simulators.apollo import DEFAULT_TOKEN as APOLLO_TOKEN
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, SimulatorServer
from sources.core.errors import ConfigurationError
from tests.helpers.push import run_push_cli, write_csv

MAP = "contact_name=name,contact_email=email"


def people(n: int) -> list[dict[str, Any]]:
    return [{"id": f"r{i}", "name": f"P {i}", "email": f"p{i}@example.com"} for i in range(n)]


@pytest.fixture
def crm() -> Iterator[SimulatorServer]:
    with SimulatorServer(n_leads=0) as server:
        yield server


def to_mega(crm: SimulatorServer, tmp_path: Path, **options: Any) -> Any:
    options.setdefault("field_map", MAP)
    if "query" not in options and "file" not in options:
        options["file"] = write_csv(tmp_path / "rows.csv", people(300))
    return push(
        "mega",
        duckdb_file=str(tmp_path / "w.duckdb"),
        base_url=crm.url,
        api_token=DEFAULT_TOKEN,
        customer_id=DEFAULT_CUSTOMER_ID,
        **options,
    )


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"key": "idd"}, "the key column 'idd' is not in the file"),
        ({"field_map": "contact_name=nmae"}, "the column 'nmae' mapped to contact_name"),
    ],
    ids=["key", "map"],
)
def test_a_column_typo_is_one_line_naming_it_and_the_columns_there(
    crm: SimulatorServer, tmp_path: Path, options: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named) as refused:
        to_mega(crm, tmp_path, **options)

    assert "its columns: id, name, email" in str(refused.value)
    assert str(tmp_path / "rows.csv") in str(refused.value) and "\n" not in str(refused.value)
    assert crm.requests == []


def test_a_csv_without_the_key_column_exits_2_in_one_line(
    crm: SimulatorServer, tmp_path: Path
) -> None:
    rows = [{k: v for k, v in row.items() if k != "id"} for row in people(50)]
    env = {
        **os.environ,
        "DESTINATION__MEGA__BASE_URL": crm.url,
        "DESTINATION__MEGA__API_TOKEN": DEFAULT_TOKEN,
        "DESTINATION__MEGA__CUSTOMER_ID": DEFAULT_CUSTOMER_ID,
    }

    done = run_push_cli(
        env, "--target", "mega", "--file", str(write_csv(tmp_path / "rows.csv", rows)),
        "--map", MAP, "--duckdb-file", str(tmp_path / "w.duckdb"),
    )  # fmt: skip

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"push-leads: error: the key column 'id' is not in the file {tmp_path / 'rows.csv'}; "
        "its columns: name, email"
    ]
    assert crm.requests == []


def test_a_mapped_column_a_query_does_not_return_is_refused(
    crm: SimulatorServer, tmp_path: Path
) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute(
            "CREATE TABLE people AS SELECT 'r' || i AS id, 'P' || i AS name FROM range(5) t(i)"
        )

    with pytest.raises(
        ConfigurationError, match="'email' mapped to contact_email is not in the query"
    ):
        to_mega(crm, tmp_path, query="SELECT id, name FROM people", key="id")
    assert crm.requests == [] and len(crm.store.snapshot()) == 0


def test_rows_sharing_a_key_are_refused_naming_the_key_and_the_rows(
    crm: SimulatorServer, tmp_path: Path
) -> None:
    rows = people(6)
    rows[4]["id"] = "r1"
    rows[5]["id"] = "r1"

    with pytest.raises(ConfigurationError, match="id 'r1' is the key of rows 2, 5, 6 of the file"):
        to_mega(crm, tmp_path, file=write_csv(tmp_path / "rows.csv", rows), key="id")
    assert crm.requests == []


@pytest.fixture
def apollo() -> Iterator[ApolloServer]:
    with ApolloServer() as server:
        yield server


def to_apollo(apollo: ApolloServer, tmp_path: Path, **options: Any) -> Any:
    rows = [{"id": f"a{i}", "contact_name": f"C {i}"} for i in range(300)]
    options.setdefault("api_token", APOLLO_TOKEN)
    return push(
        "apollo",
        file=write_csv(tmp_path / "rows.csv", rows),
        duckdb_file=str(tmp_path / "w.duckdb"),
        base_url=apollo.url,
        organization_id=DEFAULT_ORGANIZATION_ID,
        **options,
    )


def test_apollo_without_a_pipeline_id_setting_or_column_is_a_settings_error(
    apollo: ApolloServer, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match="every row needs pipeline_id") as refused:
        to_apollo(apollo, tmp_path)

    assert "DESTINATION__APOLLO__PIPELINE_ID" in str(refused.value)
    assert apollo.requests == []


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "mega_" + "f" * 64])
def test_an_apollo_token_that_is_no_jwt_is_refused_before_sending(
    apollo: ApolloServer, tmp_path: Path, token: str
) -> None:
    with pytest.raises(ConfigurationError, match="the Apollo token is not a JWT") as refused:
        to_apollo(apollo, tmp_path, api_token=token)

    assert token not in str(refused.value)
    assert apollo.requests == []
