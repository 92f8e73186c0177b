"""A push target's settings are its own: errors name ``DESTINATION__<TARGET>__…``, the variables
the user set, never a source's ``SOURCES__…``; and the HTTP settings apply to pushes too."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from pipelines.push import PushFailed, push
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN
from sources.core.errors import ConfigurationError
from tests.helpers.push import write_csv

ROWS = [{"key": "row-1", "name": "Person 1", "email": "p1@example.com"}]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def push_one(tmp_path: Path, **settings: Any) -> None:
    push(
        "mega",
        file=write_csv(tmp_path / "rows.csv", ROWS),
        key="key",
        field_map="contact_name=name,contact_email=email",
        duckdb_file=str(tmp_path / "w.duckdb"),
        **settings,
    )


def test_a_bad_target_setting_names_the_destination_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESTINATION__MEGA__API_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("DESTINATION__MEGA__CUSTOMER_ID", "acme")
    with pytest.raises(ConfigurationError) as refused:
        push_one(tmp_path)
    assert str(refused.value).endswith("(setting DESTINATION__MEGA__CUSTOMER_ID)")

    monkeypatch.setenv("DESTINATION__MEGA__CUSTOMER_ID", DEFAULT_CUSTOMER_ID)
    monkeypatch.setenv("DESTINATION__MEGA__MAX_RETRIES", "-1")
    with pytest.raises(ConfigurationError) as refused:
        push_one(tmp_path)
    assert str(refused.value) == (
        "max_retries must be a whole number from 0 to 100, got -1 "
        "(setting DESTINATION__MEGA__MAX_RETRIES)"
    )


def test_a_refused_connection_names_the_targets_base_url(tmp_path: Path) -> None:
    with pytest.raises(PushFailed) as failed:
        push_one(
            tmp_path,
            base_url=f"http://127.0.0.1:{closed_port()}",
            api_token=DEFAULT_TOKEN,
            customer_id=DEFAULT_CUSTOMER_ID,
        )
    assert "connection refused" in str(failed.value)
    assert "is DESTINATION__MEGA__BASE_URL right?" in str(failed.value)
    assert "SOURCES__" not in str(failed.value)
