"""Pushing rows into Apollo Space (create, seed 002): validation from the document, rejects
with the API's request_id, the id_token's expiry named before and during a push, exactly once
across a dropped connection."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipelines.push import PushFailed, push
from simulators.apollo import (
    DEFAULT_ORGANIZATION_ID,
    DEFAULT_PIPELINE_ID,
    DEFAULT_TOKEN,
    ApolloServer,
    ManualClock,
    issue_token,
)
from simulators.core.faults import commit_then_drop
from sources.core.errors import ConfigurationError
from tests.helpers.push import ledger, run_push_cli, writes

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"a{i}",
            "contact_name": f"Contato {i}",
            "email": f"c{i}@example.com.br",
            "phone": f"+551199900{i:04d}",
            "tags": "inbound;site",
            "value_cents": str(1000 * i),
        }
        for i in range(n)
    ]


@pytest.fixture
def apollo() -> Any:
    with ApolloServer(clock=ManualClock(NOW)) as server:
        yield server


def push_rows(sim: ApolloServer, tmp_path: Path, data: list[dict[str, Any]], **kw: Any) -> Any:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(row) for row in data))
    kw.setdefault("api_token", DEFAULT_TOKEN)
    return push(
        "apollo",
        file=path,
        duckdb_file=str(tmp_path / "w.duckdb"),
        base_url=sim.url,
        organization_id=DEFAULT_ORGANIZATION_ID,
        pipeline_id=DEFAULT_PIPELINE_ID,
        **kw,
    )


def test_rows_are_created_with_the_documents_types(apollo: ApolloServer, tmp_path: Path) -> None:
    result = push_rows(apollo, tmp_path, rows(4))

    assert result.created == 4
    leads = {lead["email"]: lead for lead in apollo.store.leads()}
    assert leads["c3@example.com.br"]["tags"] == ["inbound", "site"]
    assert leads["c3@example.com.br"]["value_cents"] == 3000
    assert leads["c3@example.com.br"]["pipeline_id"] == DEFAULT_PIPELINE_ID
    book = ledger(tmp_path / "w.duckdb", "apollo")
    assert {row["remote_id"] for row in book.values()} == {lead["id"] for lead in leads.values()}
    assert all(row["account"] == DEFAULT_ORGANIZATION_ID for row in book.values())


def test_invalid_rows_are_rejected_locally_and_server_refusals_keep_the_request_id(
    apollo: ApolloServer, tmp_path: Path
) -> None:
    data = rows(6)
    data[0]["contact_name"] = "x" * 201  # 002: maxLength 200
    data[1]["phone"] = "11 99999-0000"  # not E.164
    data[2]["value_cents"] = "12.50"  # not an integer
    data[3]["pipeline_id"] = "00000000-0000-4000-8000-00000000dead"  # not the org's
    data[4]["email"] = "c5@example.com.br"  # the same email as the next row: a duplicate

    result = push_rows(apollo, tmp_path, data, concurrency=1)

    assert result.rejected == 5 and result.created == 1
    assert len(writes(apollo)) == 3  # the three rows valid here; the server refused two
    book = ledger(tmp_path / "w.duckdb")
    assert "200" in book["a0"]["last_error"] and "E.164" in book["a1"]["last_error"]
    assert "value_cents" in book["a2"]["last_error"]
    assert "pipeline_not_found" in book["a3"]["last_error"]
    assert book["a3"]["request_id"]
    assert "409 duplicate_lead" in book["a5"]["last_error"] and book["a5"]["request_id"]


def test_an_expired_token_is_named_before_any_request(apollo: ApolloServer, tmp_path: Path) -> None:
    expired = issue_token(
        [DEFAULT_ORGANIZATION_ID], datetime.now(timezone.utc) - timedelta(hours=1)
    )

    with pytest.raises(ConfigurationError, match="Cognito id_token\\) expired at"):
        push_rows(apollo, tmp_path, rows(2), api_token=expired)
    assert apollo.requests == []


def test_a_token_that_expires_during_the_push_stops_it_in_one_line(
    apollo: ApolloServer, tmp_path: Path
) -> None:
    # Valid by this machine's clock, expired by the server's (its clock runs a day ahead).
    token = issue_token([DEFAULT_ORGANIZATION_ID], datetime.now(timezone.utc) + timedelta(hours=1))
    clock = apollo.clock
    assert isinstance(clock, ManualClock)
    clock.set(datetime.now(timezone.utc) + timedelta(days=1))

    with pytest.raises(PushFailed, match="has expired: log in again") as failed:
        push_rows(apollo, tmp_path, rows(3), api_token=token, concurrency=1)

    assert "\n" not in str(failed.value) and token not in str(failed.value)
    assert failed.value.result.failed == 1


def test_a_create_committed_then_dropped_is_made_once(apollo: ApolloServer, tmp_path: Path) -> None:
    apollo.faults.add(commit_then_drop(), after=1)

    result = push_rows(apollo, tmp_path, rows(3), concurrency=1)

    assert result.created == 3 and result.retries == 1
    assert len(apollo.store.leads()) == 3


def test_a_token_known_bad_before_sending_exits_2_and_one_the_server_refuses_exits_1(
    apollo: ApolloServer, tmp_path: Path
) -> None:
    """One rule for every source and target: a credential the connector can tell is unusable
    (missing, no JWT, past its `exp`) is a settings error, nothing sent; one the server refuses
    (401/403) stops the run."""
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(row) for row in rows(3)))
    now = datetime.now(timezone.utc)
    env = {
        **os.environ,
        "DESTINATION__APOLLO__BASE_URL": apollo.url,
        "DESTINATION__APOLLO__ORGANIZATION_ID": DEFAULT_ORGANIZATION_ID,
        "DESTINATION__APOLLO__PIPELINE_ID": DEFAULT_PIPELINE_ID,
    }
    args = ("--target", "apollo", "--file", str(path), "--duckdb-file", str(tmp_path / "w.duckdb"))
    expired = issue_token([DEFAULT_ORGANIZATION_ID], now - timedelta(hours=1))

    before = run_push_cli({**env, "DESTINATION__APOLLO__API_TOKEN": expired}, *args)

    assert before.returncode == 2, before.stderr
    assert "expired at" in before.stderr and len(before.stderr.strip().splitlines()) == 1
    assert apollo.requests == []

    clock = apollo.clock
    assert isinstance(clock, ManualClock)
    clock.set(now + timedelta(days=1))  # valid here, expired by the server's clock
    valid_here = issue_token([DEFAULT_ORGANIZATION_ID], now + timedelta(hours=1))

    during = run_push_cli({**env, "DESTINATION__APOLLO__API_TOKEN": valid_here}, *args)

    assert during.returncode == 1, during.stderr
    assert "has expired: log in again" in during.stderr
    assert {r.status for r in writes(apollo)} == {401}
