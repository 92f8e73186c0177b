"""Every destination: backfill; incremental runs with updated and new leads, a removed slug,
``''`` values and a slug whose value changes type; a no-change run."""

from __future__ import annotations

from tests.helpers import (
    list_requests,
)
from tests.warehouses.target import (
    Target,
    assert_exact,
    lead_with_fields,
)


def test_backfill(target: Target) -> None:
    result = target.run()

    assert (result.outcome, result.leads) == ("success", 350)
    assert_exact(target)
    assert result.api_total == result.warehouse_count == 350


def test_incremental_updates_new_leads_removed_slug_empty_strings_and_type_changes(
    target: Target,
) -> None:
    target.run()
    store = target.sim.store
    updated = lead_with_fields(target.sim, 2, skip=0)
    store.update(updated["id"], status="won", score=99, qualified=False)
    removed_slug = sorted(updated["custom_fields"])[0]
    store.remove_custom_field(updated["id"], removed_slug)
    emptied = lead_with_fields(target.sim, 1, skip=1)
    store.update(emptied["id"], contact_name="", owner=None)
    empty_slug = sorted(emptied["custom_fields"])[0]
    store.set_custom_field(emptied["id"], empty_slug, "")
    store.set_custom_field(emptied["id"], "nickname", "")
    # The same slug's value changes type from run to run: number, then text, bool, null.
    retyped = lead_with_fields(target.sim, 1, skip=2)
    store.set_custom_field(retyped["id"], "budget", 1250000)
    store.set_custom_field(retyped["id"], "pre_approved", "maybe")
    store.set_custom_field(retyped["id"], "lead_line", True)
    store.set_custom_field(retyped["id"], "timeline", None)
    store.set_custom_field(retyped["id"], "ratio", 0.25)
    new, created = store.create_or_merge(
        {
            "contact_name": "Ngozi Okafor",
            "contact_email": "ngozi@example.com",
            "custom_fields": {"budget": "", "pre_approved": False, "notes": "call back"},
        }
    )
    assert created

    result = target.run()

    assert result.leads == 4
    assert_exact(target)
    fields = target.custom_fields()
    assert (updated["id"], removed_slug) not in fields
    assert fields[(emptied["id"], empty_slug)] == ("", "string")
    assert target.leads()[emptied["id"]]["contact_name"] == ""
    assert fields[(new["id"], "budget")] == ("", "string")

    # Types change again in the next run: the columns keep their types, no variant appears.
    store.set_custom_field(retyped["id"], "budget", "n/a")
    store.set_custom_field(retyped["id"], "pre_approved", 3)
    store.set_custom_field(new["id"], "budget", False)
    store.update(emptied["id"], contact_name=None)

    again = target.run()

    assert again.leads == 3
    assert_exact(target)
    assert target.leads()[emptied["id"]]["contact_name"] is None


def test_no_change_run_loads_nothing(target: Target) -> None:
    target.run()
    before = (target.leads(), target.custom_field_rows())
    target.sim.clear_requests()

    result = target.run()

    assert (result.outcome, result.leads, result.load_ids) == ("success", 0, [])
    assert len(list_requests(target.sim)) <= 2
    assert (target.leads(), target.custom_field_rows()) == before
    assert_exact(target)
