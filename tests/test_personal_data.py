"""Personal data kept out of the warehouse, per column: hashed (HMAC-SHA256 under the pii_key
secret, over the trimmed, lower-cased value) or dropped, before anything is written; the same
email hashes alike in both sources."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from simulators.leads_v1 import LeadsV1Server
from simulators.mega import SimulatorServer
from sources.core.errors import ConfigurationError
from tests.helpers import Warehouse
from tests.helpers.leads_v1 import V1Warehouse, requests_to

KEY = "pepper-for-tests"


def hashed(value: str) -> str:
    return hmac.new(KEY.encode(), value.strip().lower().encode(), hashlib.sha256).hexdigest()


def test_mega_contact_columns_are_hashed_or_dropped_before_they_are_written(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    rules = "contact_email=hash,contact_phone=hash,contact_name=drop"
    warehouse.run(pii=rules, pii_key=KEY)
    gone = sim.store.ids()[0]
    sim.store.delete(gone)
    sim.store.touch(5, seed=1)
    warehouse.run(pii=rules, pii_key=KEY, reconcile=True)

    assert warehouse.query("SELECT COUNT(contact_name) FROM mega.leads") == [(0,)]
    stored = dict(warehouse.query("SELECT id, contact_email FROM mega.leads"))
    truth = {lead["id"]: lead.get("contact_email") for lead in sim.store.snapshot()}
    for lead_id, email in truth.items():
        assert stored[lead_id] == (hashed(email) if email else None)
    assert stored[gone] is not None and len(stored[gone]) == 64  # soft-deleted, not re-hashed
    raw = warehouse.path.read_bytes()
    assert all(email.encode() not in raw for email in truth.values() if email)


def test_a_rule_for_another_column_is_a_setting_error(warehouse: Warehouse) -> None:
    with pytest.raises(ConfigurationError, match="not a personal-data column"):
        warehouse.run(pii="status=hash")
    with pytest.raises(ConfigurationError, match="hash or drop"):
        warehouse.run(pii="contact_email=scramble")


def test_leads_v1_personal_data_is_hashed_or_dropped_and_runs_stay_incremental(
    v1_warehouse: V1Warehouse, v1_sim: LeadsV1Server
) -> None:
    rules = "email=hash,name=drop,pain_points=drop"
    v1_warehouse.run(pii=rules, pii_key=KEY)
    v1_sim.clear_requests()
    v1_warehouse.run(pii=rules, pii_key=KEY)

    assert requests_to(v1_sim, "detail") == []  # unchanged leads are still recognised
    rows = v1_warehouse.rows()
    for lead in v1_sim.store.leads():
        row = rows[lead["id"]]
        assert row["email"] == (hashed(lead["email"]) if lead["email"] else None)
        assert row["name"] is None and row["pain_points"] is None
        assert row["lead_score"] == lead["lead_score"]  # the rest as it is


def test_after_a_full_refresh_with_a_hash_rule_no_plaintext_is_left_on_disk(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    warehouse.run()  # plaintext, before the rule
    warehouse.run(full_refresh=True, pii="contact_email=hash", pii_key=KEY)

    emails = [
        lead["contact_email"].encode() for lead in sim.store.snapshot() if lead.get("contact_email")
    ]
    assert emails
    files = [path for path in warehouse.pipelines_dir.rglob("*") if path.is_file()]
    files.append(warehouse.path)
    holding = sorted(
        str(path) for path in files if any(email in path.read_bytes() for email in emails)
    )
    assert holding == []


@pytest.mark.parametrize("key", [None, KEY])
def test_a_hash_rule_without_a_key_warns_on_every_run(
    warehouse: Warehouse, caplog: pytest.LogCaptureFixture, key: str | None
) -> None:
    warning = (
        "pii: without a key a hash is plain SHA-256 of the value, which a list of likely values "
        "reverses; set the secret SOURCES__MEGA__PII_KEY"
    )
    for _ in range(2):
        caplog.clear()
        with caplog.at_level("WARNING", logger="crm_leads"):
            warehouse.run(pii="contact_email=hash", pii_key=key)
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert warnings == ([warning] if key is None else [])
