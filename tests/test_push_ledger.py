"""What the push ledger keeps: outcomes, keyed hashes and reasons that name a field and a rule;
never a row's values nor a token, whatever the target or the API answered."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from pipelines.push import push
from push_targets.core.keys import canonical
from push_targets.core.secret_key import KEY_FILE
from simulators.core import faults
from simulators.leads_v1 import DEFAULT_TOKEN as V1_TOKEN
from simulators.leads_v1 import LeadsV1Server
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, SimulatorServer
from tests.helpers.push import write_csv

MAP = "contact_name=name,contact_email=email,contact_phone=phone"


def ledger_text(path: Path) -> str:
    """Every cell of the ledger as text, and the file's bytes (DuckDB may compress strings)."""
    with duckdb.connect(str(path), read_only=True) as con:
        cells = con.execute("SELECT * FROM push._push_ledger").fetchall()
    return " ".join(str(cell) for row in cells for cell in row) + path.read_bytes().decode(
        "latin-1"
    )


def legacy_hash(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


@pytest.fixture
def crm() -> Any:
    with SimulatorServer(n_leads=0) as server:
        yield server


def test_the_ledger_holds_no_value_of_a_row_and_no_token(
    crm: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tmp_path / "settings"
    settings.mkdir()
    monkeypatch.setenv("MEGA_DLT_CONFIG_DIR", str(settings))
    rows = [
        {"key": f"k{i}", "name": f"Joana Quintela {i}", "email": f"joana.q{i}@example.org",
         "phone": f"+551198877{i:04d}"}
        for i in range(6)
    ]  # fmt: skip
    rows[1]["email"] = "joao.souza.gmail.com"  # refused here: the reason must not quote it
    # The API quotes what it refuses: its message must not reach the ledger either.
    crm.faults.add(
        faults.status(409, message="Duplicate: joana.q2@example.org exists."),
        method="POST",
        after=1,
    )

    result = push(
        "mega",
        file=write_csv(tmp_path / "rows.csv", rows),
        key="key",
        field_map=MAP,
        duckdb_file=str(tmp_path / "w.duckdb"),
        base_url=crm.url,
        api_token=DEFAULT_TOKEN,
        customer_id=DEFAULT_CUSTOMER_ID,
        concurrency=1,
    )

    assert result.rejected == 2 and result.created == 4
    text = ledger_text(tmp_path / "w.duckdb")
    assert "contact_email is not an email address" in text and "409" in text
    for row in rows:
        for column in ("name", "email", "phone"):
            value = row[column]
            assert value not in text, value
            # An unkeyed hash of a value would be reversed by hashing a list of likely ones.
            assert hashlib.sha256(canonical(value)).hexdigest()[:12] not in text, value
    assert DEFAULT_TOKEN not in text
    key_file = settings / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() not in text


def test_without_its_key_the_ledger_tells_nothing_and_with_it_a_rerun_sends_nothing(
    crm: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEGA_DLT_CONFIG_DIR", str(tmp_path))
    rows = [{"key": "k0", "name": "Ana", "email": "ana@example.org", "phone": ""}]
    options: dict[str, Any] = dict(
        file=write_csv(tmp_path / "rows.csv", rows), key="key", field_map=MAP,
        duckdb_file=str(tmp_path / "w.duckdb"), base_url=crm.url, api_token=DEFAULT_TOKEN,
        customer_id=DEFAULT_CUSTOMER_ID,
    )  # fmt: skip
    assert push("mega", **options).created == 1
    assert push("mega", **options).unchanged == 1  # the key file made once, read again

    monkeypatch.setenv("PUSH__LEDGER_KEY", "another key, long enough to be one of 32+ chars")
    other = push("mega", **options)

    assert other.unchanged == 0 and other.skipped == 1  # hashes under another key match nothing
    assert len(crm.store.snapshot()) == 1


def test_a_ledger_written_before_keyed_hashes_is_rekeyed_not_resent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEGA_DLT_CONFIG_DIR", str(tmp_path))
    rows = [
        {"id": f"r{i}", "name": f"Lead {i}", "company": "Co", "industry": None} for i in range(3)
    ]
    path = tmp_path / "rows.jsonl"
    with LeadsV1Server(n_leads=0) as api:

        def run(data: list[dict[str, Any]]) -> Any:
            path.write_bytes(b"\n".join(orjson.dumps(row) for row in data))
            return push("leads_v1", file=path, duckdb_file=str(tmp_path / "w.duckdb"),
                        base_url=api.url, api_token=V1_TOKEN)  # fmt: skip

        run(rows)
        # As the ledger was before: unkeyed hashes of the payload without its empty fields.
        with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
            for row in rows:
                payload = {"name": row["name"], "company": "Co"}
                fields = {k: legacy_hash(v)[:12] for k, v in payload.items()}
                con.execute(
                    "UPDATE push._push_ledger SET payload_hash = ?, field_hashes = ? "
                    "WHERE row_key = ?",
                    [legacy_hash(payload)[:32], json.dumps(fields), row["id"]],
                )
        api.clear_requests()
        rows[2]["company"] = "Other Co"

        result = run(rows)

        assert (result.unchanged, result.updated) == (2, 1)
        patches = [r for r in api.requests if r.method == "PATCH"]
        assert len(patches) == 1  # only the changed row, and in it only the changed field
        stored = {lead["name"]: lead for lead in api.store.leads()}
        assert stored["Lead 2"]["company"] == "Other Co"
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        kept = " ".join(map(str, con.execute("SELECT * FROM push._push_ledger").fetchall()))
    for row in rows:  # rewritten keyed (DuckDB may leave the old bytes in free blocks)
        assert legacy_hash(row["name"])[:12] not in kept and legacy_hash(row["name"]) not in kept
