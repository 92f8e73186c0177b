"""Shaping's fast paths held against their reference paths.

`leads_table` and `custom_fields_table` each have a fast path (arrow walks the leads in C++)
and a reference path (one plain Python pass) that decides every lead the fast path declines.
Over generated leads with awkward values (None, '', bools, ints beyond int64, floats, nested
values, unicode), the fast path either declines or returns exactly the reference's table; an
error inside the fast path that is not about the input is raised, not hidden by the fallback.
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulators.mega import generate_leads
from sources.core.errors import MalformedResponseError
from sources.mega import shaping

WHERE = "page 1"


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """The table's rows with NaN made comparable (NaN != NaN would fail equal tables)."""
    return [
        {k: "NaN" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in table.to_pylist()
    ]


def reference_fields(leads: list[dict[str, Any]], tombstones: bool) -> pa.Table | str:
    """The reference's table, or the error it names."""
    try:
        return shaping._reference_custom_fields_table(leads, WHERE, tombstones)
    except MalformedResponseError as exc:
        return str(exc)


def reference_leads(leads: list[dict[str, Any]]) -> list[Any] | str:
    try:
        return shaping._checked_arrays(leads, WHERE)
    except MalformedResponseError as exc:
        return str(exc)


def assert_fields_fast_path_agrees(leads: list[dict[str, Any]], tombstones: bool) -> bool:
    """The fast path declines or equals the reference; the public function gives the
    reference's answer either way. True when the fast path took the leads."""
    expected = reference_fields(leads, tombstones)
    try:
        arrays = shaping._custom_field_arrays(leads, tombstones)
    except shaping.UNUSUAL_INPUT:
        arrays = None
    if arrays is not None:
        fast = pa.Table.from_arrays(arrays, schema=shaping.CUSTOM_FIELDS_SCHEMA)
        assert isinstance(expected, pa.Table), expected
        assert fast.schema == expected.schema
        assert rows(fast) == rows(expected)
    if isinstance(expected, str):
        with pytest.raises(MalformedResponseError) as failed:
            shaping.custom_fields_table(leads, WHERE, tombstones)
        assert str(failed.value) == expected
    else:
        assert rows(shaping.custom_fields_table(leads, WHERE, tombstones)) == rows(expected)
    return arrays is not None


def assert_leads_fast_path_agrees(leads: list[dict[str, Any]]) -> bool:
    expected = reference_leads(leads)
    try:
        arrays = shaping._lead_arrays(leads)
    except shaping.UNUSUAL_INPUT:
        arrays = None
    if arrays is not None:
        assert not isinstance(expected, str), expected
        assert [a.type for a in arrays] == [a.type for a in expected]
        assert [a.to_pylist() for a in arrays] == [a.to_pylist() for a in expected]
    if isinstance(expected, str):
        with pytest.raises(MalformedResponseError) as failed:
            shaping.leads_table(leads, WHERE)
        assert str(failed.value) == expected
    else:
        table = shaping.leads_table(leads, WHERE)
        assert table.schema == shaping.LEADS_SCHEMA
        assert [table[i].to_pylist() for i in range(len(expected))] == [
            a.to_pylist() for a in expected
        ]
    return arrays is not None


# ----- ordinary leads take the fast path --------------------------------------------------------


@pytest.mark.parametrize("tombstones", [True, False])
def test_generated_leads_take_the_fast_path_and_match_the_reference(tombstones: bool) -> None:
    leads = generate_leads(500, seed=3)
    leads[7]["custom_fields"] = {}  # a lead whose fields were all removed: a tombstone row
    assert assert_fields_fast_path_agrees(leads, tombstones)
    assert assert_leads_fast_path_agrees(leads)


# ----- awkward values ---------------------------------------------------------------------------

_TEXT = st.text(alphabet=st.sampled_from(["a", "é", "😀", "\x00", " ", "0", "e"]), max_size=4)
_SCALAR = st.one_of(
    st.none(),
    _TEXT,
    st.just(""),
    st.booleans(),
    st.integers(),  # unbounded: beyond int64 too
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.1, 1e20, 1e-7, -0.0, 2.0**53 + 1, 5e-324]),
)
_VALUE = st.one_of(
    _SCALAR, _SCALAR, _SCALAR, st.lists(_SCALAR, max_size=2), st.dictionaries(_TEXT, _SCALAR)
)
_TIMESTAMP = st.sampled_from(["2026-01-01T00:00:00.000Z", "2025-12-31T23:59:59.999Z"])
_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
# Per column type: values of that type (None included), then values of any JSON type.
_WELL_TYPED = {
    pa.string(): st.one_of(st.none(), _TEXT, st.just("")),
    pa.int64(): st.one_of(st.none(), _INT64, st.integers(-5, 5)),
    pa.bool_(): st.one_of(st.none(), st.booleans()),
    shaping.TIMESTAMP: st.one_of(st.none(), _TIMESTAMP),
}
_ANY_TYPE = {
    pa.string(): st.one_of(_WELL_TYPED[pa.string()], st.integers(0, 3), st.booleans()),
    pa.int64(): st.one_of(
        _WELL_TYPED[pa.int64()], st.integers(), st.booleans(), st.just(1.5), _TEXT
    ),
    pa.bool_(): st.one_of(_WELL_TYPED[pa.bool_()], st.integers(0, 1), _TEXT),
    shaping.TIMESTAMP: st.one_of(_WELL_TYPED[shaping.TIMESTAMP], _TEXT, st.integers(0, 1)),
}


@st.composite
def leads(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Leads as `check_page_leads` passes them: objects with a string id and updated_at. Half
    the examples keep each column's type (and custom fields scalar), so the fast paths take
    them; the other half put any JSON type anywhere, so the reference decides."""
    wild = draw(st.booleans())
    by_type = _ANY_TYPE if wild else _WELL_TYPED
    not_an_object: list[Any] = [None, "x", [], 0, {}] if wild else [None]
    drawn = []
    for number in range(draw(st.integers(0, 6))):
        lead: dict[str, Any] = {"id": f"lead-{number}", "updated_at": draw(_TIMESTAMP)}
        for name, dtype, path in shaping.LEAD_FIELDS:
            if name in ("id", "updated_at") or not draw(st.booleans()):
                continue
            value = draw(by_type[dtype])
            if len(path) == 1:
                lead[path[0]] = value
            else:
                outer = lead.setdefault(path[0], {})
                if isinstance(outer, dict):
                    outer[path[1]] = value
        for outer in ("current_stage", "owner"):
            if draw(st.integers(0, 4)) == 0:  # null, or (wild) an object that is not one
                lead[outer] = draw(st.sampled_from(not_an_object))
        if wild:
            lead["custom_fields"] = draw(
                st.one_of(
                    st.none(),
                    st.dictionaries(_TEXT, _VALUE, max_size=4),
                    st.sampled_from([[], ["a"], "x", 0, True]),
                )
            )
        else:
            lead["custom_fields"] = draw(st.dictionaries(_TEXT, _SCALAR, max_size=4))
        drawn.append(lead)
    return drawn


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leads(), st.booleans())
def test_custom_fields_fast_path_equals_the_reference(
    drawn: list[dict[str, Any]], tombstones: bool
) -> None:
    assert_fields_fast_path_agrees(drawn, tombstones)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leads())
def test_leads_fast_path_equals_the_reference(drawn: list[dict[str, Any]]) -> None:
    assert_leads_fast_path_agrees(drawn)


# ----- the fallback hides no fast-path bug ------------------------------------------------------


def test_a_bug_in_the_fast_paths_is_raised_not_hidden_by_the_reference_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only what arrow raises on an unusual input sends a lead to the reference path; any other
    error in the fast path (here an IndexError) surfaces, so tests see it."""
    leads = generate_leads(10, seed=1)

    def broken(*args: Any) -> None:
        raise IndexError("a bug in the fast path")

    monkeypatch.setattr(shaping, "_custom_field_arrays", broken)
    monkeypatch.setattr(shaping, "_lead_arrays", broken)
    with pytest.raises(IndexError):
        shaping.custom_fields_table(leads, WHERE)
    with pytest.raises(IndexError):
        shaping.leads_table(leads, WHERE)
