"""Pushing rows into MEGA (create, seed 000) against its simulator: exactly once across replays,
crashes and reruns; rows rejected one by one; the ledger; dry-run; the dlt destination."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from pipelines.push import push
from push_targets.core.ledger import SCHEMA, TABLE
from push_targets.mega import mega as mega_destination
from simulators.core import faults
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, SimulatorServer
from tests.helpers.concurrency import InFlight
from tests.helpers.push import ledger, run_push_cli, write_csv, writes

MAP = "contact_name=name,contact_email=email,source_platform=platform"


def people(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "key": f"row-{i}",
            "name": f"Person {i}",
            "email": f"p{i}@example.com",
            "platform": "direct",
        }
        for i in range(start, start + n)
    ]


@pytest.fixture
def crm() -> Any:
    with SimulatorServer(n_leads=0) as server:
        yield server


def push_file(
    crm: SimulatorServer, tmp_path: Path, rows: list[dict[str, Any]], **options: Any
) -> Any:
    options.setdefault("field_map", MAP)
    return push(
        "mega",
        file=write_csv(tmp_path / "rows.csv", rows),
        key="key",
        duckdb_file=str(tmp_path / "w.duckdb"),
        base_url=crm.url,
        api_token=DEFAULT_TOKEN,
        customer_id=DEFAULT_CUSTOMER_ID,
        **options,
    )


def test_rows_are_created_once_and_a_rerun_sends_nothing(
    crm: SimulatorServer, tmp_path: Path
) -> None:
    result = push_file(crm, tmp_path, people(30))

    assert result.created == 30 and result.rejected == 0
    leads = crm.store.snapshot()
    assert sorted(lead["contact_email"] for lead in leads) == sorted(
        f"p{i}@example.com" for i in range(30)
    )
    book = ledger(tmp_path / "w.duckdb", "mega")
    assert {row["remote_id"] for row in book.values()} == {lead["id"] for lead in leads}
    assert all(row["status"] == "created" and row["payload_hash"] for row in book.values())
    ledger_bytes = (tmp_path / "w.duckdb").read_bytes()
    assert b"p0@example.com" not in ledger_bytes and b"Person 0" not in ledger_bytes  # hashes only
    crm.clear_requests()

    again = push_file(crm, tmp_path, people(30))

    assert again.unchanged == 30 and writes(crm) == []


def test_a_create_committed_then_dropped_is_retried_with_its_key_and_made_once(
    crm: SimulatorServer, tmp_path: Path
) -> None:
    crm.faults.add(faults.commit_then_drop(), method="POST", after=3)

    result = push_file(crm, tmp_path, people(6), concurrency=1)

    assert result.created == 6 and result.retries == 1
    assert len(crm.store.snapshot()) == 6
    posts = writes(crm)
    assert posts[3].status is None and posts[4].idempotency_key == posts[3].idempotency_key


def test_a_rerun_after_a_crash_that_lost_the_ledger_creates_nothing_twice(
    crm: SimulatorServer, tmp_path: Path
) -> None:
    push_file(crm, tmp_path, people(10))
    before = {lead["contact_email"]: lead["id"] for lead in crm.store.snapshot()}
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:  # as if it crashed before writing it
        con.execute(f"DELETE FROM {SCHEMA}.{TABLE}")

    result = push_file(crm, tmp_path, people(10))

    assert result.created + result.merged == 10
    assert {lead["contact_email"]: lead["id"] for lead in crm.store.snapshot()} == before
    assert {row["remote_id"] for row in ledger(tmp_path / "w.duckdb").values()} == set(
        before.values()
    )


def test_invalid_rows_are_rejected_one_by_one_and_the_rest_pushed(
    crm: SimulatorServer, tmp_path: Path
) -> None:
    rows = people(5)
    rows[1].update(name="", email="")  # no contact field: rejected here, no request
    rows[2]["platform"] = "carrier_pigeon"  # not in 000's enum
    rows[3]["email"] = "not-an-email"
    crm.faults.add(faults.status(409, message="Duplicate resource."), method="POST", after=1)

    result = push_file(crm, tmp_path, rows, concurrency=1)

    assert result.rejected == 4 and result.created == 1
    assert len(writes(crm)) == 2  # the valid rows; the second one the server refused
    book = ledger(tmp_path / "w.duckdb")
    assert book["row-0"]["status"] == "created"
    assert book["row-1"]["status"] == "rejected" and "required" in book["row-1"]["last_error"]
    assert "source_platform" in book["row-2"]["last_error"]
    assert "email" in book["row-3"]["last_error"]
    assert book["row-4"]["status"] == "rejected" and "409" in book["row-4"]["last_error"]
    assert "Duplicate resource." in book["row-4"]["last_error"]


def test_a_lead_merged_by_email_is_reported_with_the_existing_id(
    crm: SimulatorServer, tmp_path: Path
) -> None:
    push_file(crm, tmp_path, people(1))
    existing = crm.store.snapshot()[0]
    same_email = {"key": "other", "name": "Dup", "email": "p0@example.com", "platform": "direct"}

    result = push_file(crm, tmp_path, [same_email])

    assert result.merged == 1
    assert ledger(tmp_path / "w.duckdb")["other"]["remote_id"] == existing["id"]
    assert len(crm.store.snapshot()) == 1


def test_dry_run_validates_and_prints_but_sends_and_records_nothing(
    crm: SimulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = people(3)
    rows[2]["email"] = "broken"

    result = push_file(crm, tmp_path, rows, dry_run=True)

    assert result.dry_run and result.created == 2 and result.rejected == 1
    assert crm.requests == []
    assert "p0@example.com" in capsys.readouterr().out
    assert ledger(tmp_path / "w.duckdb") == {}


def test_rate_limits_and_outages_are_retried(crm: SimulatorServer, tmp_path: Path) -> None:
    crm.faults.add(faults.rate_limited(retry_after=1), method="POST", times=2)
    crm.faults.add(faults.status(503), method="POST", times=2, after=5)

    result = push_file(crm, tmp_path, people(12))

    assert result.created == 12 and result.retries == 4
    assert len(crm.store.snapshot()) == 12


def test_requests_in_flight_are_capped_at_k(crm: SimulatorServer, tmp_path: Path) -> None:
    in_flight = InFlight()
    crm.faults.add(faults.callback(in_flight), method="POST", times=1000)
    push_file(crm, tmp_path, people(40), concurrency=4)
    assert in_flight.most == 4


def test_a_rejected_token_stops_the_push_in_one_line_and_is_never_written(
    crm: SimulatorServer, tmp_path: Path
) -> None:
    secret = "mega_" + "f" * 64
    env = {
        **os.environ,
        "DESTINATION__MEGA__BASE_URL": crm.url,
        "DESTINATION__MEGA__API_TOKEN": secret,
        "DESTINATION__MEGA__CUSTOMER_ID": DEFAULT_CUSTOMER_ID,
    }
    csv_path = write_csv(tmp_path / "rows.csv", people(3))
    args = ("--target", "mega", "--file", str(csv_path), "--key", "key", "--map", MAP,
            "--duckdb-file", str(tmp_path / "w.duckdb"))  # fmt: skip

    failed = run_push_cli(env, *args)

    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1].startswith("push-leads: error: authentication")
    assert secret not in failed.stderr + failed.stdout
    assert secret.encode() not in (tmp_path / "w.duckdb").read_bytes()
    # 401 is not retried, and stops the push: only rows already in flight were sent, once each.
    statuses = [r.status for r in writes(crm)]
    assert set(statuses) == {401} and len(statuses) <= 3
    assert len({r.idempotency_key for r in writes(crm)}) == len(statuses)

    ok = run_push_cli({**env, "DESTINATION__MEGA__API_TOKEN": DEFAULT_TOKEN}, *args)
    assert ok.returncode == 0, ok.stderr
    assert "3 created" in ok.stdout
    csv_path.write_text("key,name,email,platform\nbad,,,direct\n")
    rejected = run_push_cli({**env, "DESTINATION__MEGA__API_TOKEN": DEFAULT_TOKEN}, *args)
    assert rejected.returncode == 3 and "1 rejected" in rejected.stdout


def test_the_dlt_destination_pushes_a_pipelines_rows_exactly_once(
    crm: SimulatorServer, tmp_path: Path
) -> None:
    destination = mega_destination(
        base_url=crm.url,
        api_token=DEFAULT_TOKEN,
        customer_id=DEFAULT_CUSTOMER_ID,
        field_map=MAP,
        key_column="key",
        ledger_path=str(tmp_path / "ledger.duckdb"),
    )
    pipeline = dlt.pipeline("push_test", destination=destination, pipelines_dir=str(tmp_path / "p"))

    pipeline.run(people(25), table_name="people")
    pipeline.run(people(30), table_name="people")  # 25 again, 5 new

    assert len(crm.store.snapshot()) == 30
    assert len(writes(crm)) == 30
    book = ledger(tmp_path / "ledger.duckdb")
    assert len(book) == 30 and all(row["status"] == "created" for row in book.values())
    for path in tmp_path.rglob("*"):  # state, trace, load packages, ledger
        if path.is_file():
            assert DEFAULT_TOKEN.encode() not in path.read_bytes(), path


def test_a_row_refused_after_it_was_created_is_not_created_again(
    crm: SimulatorServer, tmp_path: Path
) -> None:
    push_file(crm, tmp_path, people(2))
    broken = people(2)
    broken[0]["email"] = "broken"

    refused = push_file(crm, tmp_path, broken)
    crm.clear_requests()
    again = push_file(crm, tmp_path, people(2))

    assert refused.rejected == 1
    row = ledger(tmp_path / "w.duckdb")["row-0"]
    assert row["status"] == "created" and "email" in row["last_error"] and row["remote_id"]
    assert again.unchanged == 2 and writes(crm) == []
    assert len(crm.store.snapshot()) == 2


def test_the_dlt_destination_never_creates_two_leads_for_one_key(
    crm: SimulatorServer, tmp_path: Path
) -> None:
    destination = mega_destination(
        base_url=crm.url,
        api_token=DEFAULT_TOKEN,
        customer_id=DEFAULT_CUSTOMER_ID,
        field_map=MAP,
        key_column="key",
        ledger_path=str(tmp_path / "ledger.duckdb"),
    )
    pipeline = dlt.pipeline("push_dup", destination=destination, pipelines_dir=str(tmp_path / "p"))
    rows = people(4)
    rows[3].update(key="row-0", email="other@example.com")  # the key of row 1, other content

    pipeline.run(rows, table_name="people")

    assert len(writes(crm)) == 3 and len(crm.store.snapshot()) == 3
    assert {lead["contact_email"] for lead in crm.store.snapshot()} == {
        "p0@example.com", "p1@example.com", "p2@example.com"
    }  # fmt: skip
    book = ledger(tmp_path / "ledger.duckdb")
    assert book["row-0"]["status"] == "created" and book["row-0"]["remote_id"]
    crm.clear_requests()
    pipeline.run(people(3), table_name="people")  # the first row-0 again: known, nothing sent
    assert writes(crm) == []
