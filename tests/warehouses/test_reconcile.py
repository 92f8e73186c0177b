"""Every destination: soft and hard reconcile."""

from __future__ import annotations

from datetime import datetime

from tests.warehouses.target import (
    Target,
    assert_exact,
    assert_row_equal,
)


def test_soft_reconcile_marks_vanished_leads(target: Target) -> None:
    target.run()
    store = target.sim.store
    gone = [lead["id"] for lead in store.snapshot() if lead["custom_fields"]][:3]
    before = target.leads()
    for lead_id in gone:
        store.delete(lead_id)
    started = datetime.now().astimezone()

    result = target.run(reconcile=True)

    finished = datetime.now().astimezone()
    assert (result.reconciled, result.deleted, result.restored) == (True, 3, 0)
    assert result.api_total == result.warehouse_count == 347
    loaded = target.leads()
    assert sorted(loaded) == sorted(before)  # soft: every row stays
    for lead_id in gone:
        stamp = loaded[lead_id]["_deleted_at"]
        assert isinstance(stamp, datetime) and stamp.tzinfo is not None, stamp
        assert started <= stamp <= finished
        assert_row_equal({**loaded[lead_id], "_deleted_at": None}, before[lead_id], lead_id)
    assert_exact(target, live_only=True)
    manifest = {row["run_id"]: row for row in target.manifest()}
    assert manifest[result.run_id]["deleted"] == 3


def test_hard_reconcile_removes_rows_and_custom_fields(target: Target) -> None:
    target.run()
    store = target.sim.store
    with_fields = [lead["id"] for lead in store.snapshot() if lead["custom_fields"]]
    soft_gone, hard_gone = with_fields[:1], with_fields[1:3]
    store.delete(soft_gone[0])
    target.run(reconcile=True)
    for lead_id in hard_gone:
        store.delete(lead_id)

    result = target.run(reconcile=True, delete_mode="hard")

    assert result.deleted == 3  # the soft-deleted row goes too
    assert result.api_total == result.warehouse_count == 347
    assert_exact(target)
    gone = set(soft_gone + hard_gone)
    assert not {lead_id for lead_id, _ in target.custom_fields()} & gone
