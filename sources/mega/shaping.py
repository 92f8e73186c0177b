"""Row shaping: API leads → two arrow tables, ``leads`` and ``leads__custom_fields``.

Arrow tables with a fixed schema are dlt's fastest load path (dlt skips normalize) and fix every
column's type up front, so no dlt variant column (``__v_…``) can ever appear, whatever mix of
types the API sends in ``custom_fields`` (001: values are string | number | boolean | null).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from itertools import accumulate, chain, compress, repeat
from operator import itemgetter, not_
from typing import Any, cast

import pyarrow as pa

from sources.core.columns import (  # noqa: F401  # re-exported: MEGA's columns
    DELETED_AT,
    TIMESTAMP,
    TOMBSTONE,
    format_timestamp,
    parse_timestamp,
)
from sources.core.errors import MalformedResponseError

# (column, arrow type, path in the lead) in warehouse order; `current_stage` / `owner` flattened.
LEAD_FIELDS: list[tuple[str, pa.DataType, tuple[str, ...]]] = [
    ("id", pa.string(), ("id",)),
    ("customer_id", pa.string(), ("customer_id",)),
    ("contact_name", pa.string(), ("contact_name",)),
    ("contact_phone", pa.string(), ("contact_phone",)),
    ("contact_email", pa.string(), ("contact_email",)),
    ("source_platform", pa.string(), ("source_platform",)),
    ("source_type", pa.string(), ("source_type",)),
    ("status", pa.string(), ("status",)),
    ("score", pa.int64(), ("score",)),
    ("qualified", pa.bool_(), ("qualified",)),
    ("current_stage__id", pa.string(), ("current_stage", "id")),
    ("current_stage__slug", pa.string(), ("current_stage", "slug")),
    ("current_stage__name", pa.string(), ("current_stage", "name")),
    ("current_stage__color", pa.string(), ("current_stage", "color")),
    ("owner__id", pa.string(), ("owner", "id")),
    ("owner__name", pa.string(), ("owner", "name")),
    ("owner__role_name", pa.string(), ("owner", "role_name")),
    ("last_interaction_at", TIMESTAMP, ("last_interaction_at",)),
    ("interaction_count", pa.int64(), ("interaction_count",)),
    ("created_at", TIMESTAMP, ("created_at",)),
    ("updated_at", TIMESTAMP, ("updated_at",)),
]
# The same columns as the API nests them (strings for timestamps), converted in one pass.
_API_SCHEMA = pa.schema(
    [
        pa.field(path[0], pa.string() if dtype == TIMESTAMP else dtype)
        for _, dtype, path in LEAD_FIELDS
        if len(path) == 1
    ]
    + [
        pa.field(
            outer,
            pa.struct([(p[1], t) for _, t, p in LEAD_FIELDS if len(p) == 2 and p[0] == outer]),
        )
        for outer in ("current_stage", "owner")
    ]
)
_API_STRUCT = pa.struct(list(_API_SCHEMA))
# Where each warehouse column sits in the converted struct: (top-level child, nested child).
_API_POSITIONS = [
    (_API_SCHEMA.get_field_index(path[0]), _API_SCHEMA.field(path[0]).type.get_field_index(path[1]))
    if len(path) == 2
    else (_API_SCHEMA.get_field_index(path[0]), -1)
    for _, _, path in LEAD_FIELDS
]

LEADS_SCHEMA = pa.schema(
    [pa.field(name, dtype, nullable=name != "id") for name, dtype, _ in LEAD_FIELDS]
    + [pa.field(DELETED_AT, TIMESTAMP), pa.field(TOMBSTONE, pa.bool_())]
)
CUSTOM_FIELDS_SCHEMA = pa.schema(
    [
        pa.field("lead_id", pa.string(), nullable=False),
        pa.field("slug", pa.string(), nullable=False),
        pa.field("value", pa.string()),
        pa.field("value_type", pa.string()),
        pa.field("value_number", pa.float64()),
        pa.field("value_bool", pa.bool_()),
        pa.field(TOMBSTONE, pa.bool_()),
    ]
)
_EMPTY: Mapping[str, Any] = {}
# What arrow raises on a value the fast paths do not take (a wrong type, an int beyond int64, a
# malformed timestamp): only then does the reference path decide, and name the fault. Any other
# error in a fast path is a bug in it and is raised, so no test can pass on the fallback alone.
UNUSUAL_INPUT = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError)


def _column(leads: list[dict[str, Any]], path: tuple[str, ...]) -> list[Any]:
    if len(path) == 1:
        key = path[0]
        return [lead.get(key) for lead in leads]
    outer, inner = path
    return [(lead.get(outer) or _EMPTY).get(inner) for lead in leads]


def _typed_array(name: str, values: list[Any], dtype: pa.DataType, where: str) -> pa.Array:
    try:
        if dtype == TIMESTAMP:
            return pa.array(values, pa.string()).cast(TIMESTAMP)
        if dtype in (pa.int64(), pa.float64()) and any(isinstance(v, bool) for v in values):
            raise TypeError("boolean where a number belongs")
        return pa.array(values, dtype)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, AttributeError) as exc:
        bad = next((v for v in values if v is not None), None)
        raise MalformedResponseError(
            f"{where}: field `{name}` has a value of the wrong type ({bad!r:.60}): {exc}"
        ) from None


def leads_table(leads: list[dict[str, Any]], where: str) -> pa.Table:
    try:
        arrays = _lead_arrays(leads)
    except UNUSUAL_INPUT:  # a wrong-typed field: the reference path raises the error to report
        arrays = None
    if arrays is None:  # anything unusual: the checked path decides, and names the fault
        arrays = _checked_arrays(leads, where)
    count = len(leads)
    arrays += [pa.nulls(count, TIMESTAMP), pa.nulls(count, pa.bool_())]
    return pa.Table.from_arrays(arrays, schema=LEADS_SCHEMA)


def _lead_arrays(leads: list[dict[str, Any]]) -> list[Any] | None:
    # Arrow walks the dicts in C++ as one struct array: no Python pass per column. Its child
    # converters are those `pa.array(column, type)` uses, so it accepts and yields the same.
    if set(map(type, leads)) != {dict}:
        return None
    top = pa.array(leads, _API_STRUCT).flatten()
    nested = {i: top[i].flatten() for i, inner in _API_POSITIONS if inner >= 0}
    columns = [top[i] if inner < 0 else nested[i][inner] for i, inner in _API_POSITIONS]
    return [
        column.cast(TIMESTAMP) if dtype == TIMESTAMP else column
        for column, (_, dtype, _) in zip(columns, LEAD_FIELDS, strict=True)
    ]


def _checked_arrays(leads: list[dict[str, Any]], where: str) -> list[Any]:
    if any(type(lead) is not dict for lead in leads):
        raise MalformedResponseError(f"{where}: a lead is not an object")
    for outer in ("current_stage", "owner"):
        if any(not isinstance(lead.get(outer) or _EMPTY, Mapping) for lead in leads):
            raise MalformedResponseError(f"{where}: field `{outer}` is not an object or null")
    return [_typed_array(n, _column(leads, p), t, where) for n, t, p in LEAD_FIELDS]


def decimal_text(number: int | float) -> str:
    """Numbers as plain decimal text: 500000 → '500000', 1e20 → '100000000000000000000'."""
    if isinstance(number, int):
        return str(number)
    return format(Decimal(repr(number)), "f")


# Value kinds as byte codes (`bytes(map(...))` classifies a chunk in one C-level pass), and
# their `value_type` names indexed by code.
_STR, _BOOL, _INT, _FLOAT, _NULL = range(5)
_KIND: dict[type, int] = {str: _STR, bool: _BOOL, int: _INT, float: _FLOAT, type(None): _NULL}
_VALUE_TYPES = ["string", "boolean", "number", "number", "null"]
_KIND_NAMES = pa.array(_VALUE_TYPES, pa.string())
_TYPE_NAMES: dict[type, str] = {kind: _VALUE_TYPES[code] for kind, code in _KIND.items()}
# Prebuilt scalars: converting a Python int on every compute call costs more than the kernel.
_KIND_SCALARS = [pa.scalar(kind, pa.int8()) for kind in range(5)]


def _value_text(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    if type(value) is bool:
        return "true" if value else "false"
    return decimal_text(value)


def custom_fields_table(
    leads: list[dict[str, Any]], where: str, tombstones: bool = True
) -> pa.Table:
    """One row per (lead, slug); a lead with no custom fields gets one tombstone row, which
    (as dlt's hard_delete) removes the lead's old rows without inserting anything."""
    try:
        arrays = _custom_field_arrays(leads, tombstones)
    except UNUSUAL_INPUT:  # e.g. an int beyond int64: the reference handles it
        arrays = None
    if arrays is None:  # anything unusual: the reference path decides, and names the fault
        return _reference_custom_fields_table(leads, where, tombstones)
    return pa.Table.from_arrays(arrays, schema=CUSTOM_FIELDS_SCHEMA)


def _custom_field_arrays(leads: list[dict[str, Any]], tombstones: bool) -> list[Any] | None:
    """The columns of `_reference_custom_fields_table` for well-formed leads, else None (or
    an exception). Every pass over the values is a C-level `map`/`chain` or an arrow kernel."""
    # Imported with the first page that has leads: a run with nothing to load starts faster.
    import pyarrow.compute as pc

    fields: list[Any] = list(map(dict.get, leads, repeat("custom_fields")))
    if set(map(type, fields)) != {dict}:
        return None
    sizes = list(map(len, fields))
    ids = list(map(itemgetter("id"), leads))
    slugs = list(chain.from_iterable(fields))
    values = list(chain.from_iterable(map(dict.values, fields)))
    count = len(values)
    emptied = list(compress(ids, map(not_, sizes))) if tombstones else []
    # A tombstone row is a null value under slug "" (and `_tombstone` set, below).
    values += repeat(None, len(emptied))
    slugs += repeat("", len(emptied))
    rows = len(values)
    if not rows:
        return None
    try:
        codes = bytes(cast("Iterable[int]", map(_KIND.get, map(type, values))))
    except TypeError:  # a type outside `_KIND` gives None, which `bytes` refuses: not a scalar
        return None
    kinds = pa.Array.from_buffers(pa.int8(), rows, [None, pa.py_buffer(codes)])

    def only(kind: int, dtype: pa.DataType) -> pa.Array:
        # The mask makes arrow skip (as nulls) the values of other kinds without looking at them.
        return pa.array(values, dtype, mask=pc.not_equal(kinds, _KIND_SCALARS[kind]))

    strings, bools = only(_STR, pa.string()), only(_BOOL, pa.bool_())
    ints, floats = only(_INT, pa.int64()), only(_FLOAT, pa.float64())  # int64 or fall back
    text = pc.coalesce(strings, ints.cast(pa.string()), bools.cast(pa.string()))
    if floats.null_count < rows:
        float_values = floats.drop_null().to_pylist()
        float_texts = list(map(repr, float_values))
        joined = "".join(float_texts)
        # repr is already plain decimal unless it has an exponent (or is inf / nan).
        if "e" in joined or "n" in joined:
            float_texts = list(map(decimal_text, float_values))
        is_float = pc.equal(kinds, _KIND_SCALARS[_FLOAT])
        text = pc.replace_with_mask(text, is_float, pa.array(float_texts, pa.string()))
    # Rounds as float(int) does (to nearest); `safe` would refuse ints beyond 2**53.
    number = pc.coalesce(ints.cast(pa.float64(), safe=False), floats)
    offsets = array("i", accumulate(sizes, initial=0))  # a buffer: no per-int conversion
    as_lists = pa.ListArray.from_arrays(
        pa.Array.from_buffers(pa.int32(), len(offsets), [None, pa.py_buffer(offsets)]),
        pa.nulls(count),
    )
    lead_of_row = as_lists.value_parent_indices()
    lead_id = pa.array(ids, pa.string()).take(lead_of_row)
    tombstone = pa.nulls(count, pa.bool_())
    if emptied:
        lead_id = pa.concat_arrays([lead_id, pa.array(emptied, pa.string())])
        tombstone = pa.concat_arrays([tombstone, pa.repeat(True, len(emptied))])
    slug = pa.array(slugs, pa.string())
    return [lead_id, slug, text, _KIND_NAMES.take(kinds), number, bools, tombstone]


def _reference_custom_fields_table(
    leads: list[dict[str, Any]], where: str, tombstones: bool
) -> pa.Table:
    lead_ids: list[str] = []
    slugs: list[str] = []
    values: list[Any] = []
    emptied: list[str] = []
    for lead in leads:
        fields = lead.get("custom_fields")
        if not fields:
            if tombstones:
                emptied.append(lead["id"])
            continue
        if type(fields) is not dict:
            raise MalformedResponseError(f"{where}: lead {lead['id']} `custom_fields` not a map")
        lead_ids.extend([lead["id"]] * len(fields))
        slugs.extend(fields)
        values.extend(fields.values())
    types = [_TYPE_NAMES.get(type(value)) for value in values]
    if None in types:
        row = types.index(None)
        raise MalformedResponseError(
            f"{where}: lead {lead_ids[row]} custom field {slugs[row]!r} is not a scalar "
            f"({type(values[row]).__name__})"
        )
    count, tombs = len(values), len(emptied)
    columns = [
        lead_ids + emptied,
        slugs + [""] * tombs,
        [_value_text(value) for value in values] + [None] * tombs,
        types + ["null"] * tombs,
        [float(v) if t == "number" else None for v, t in zip(values, types, strict=True)]
        + [None] * tombs,
        [v if t == "boolean" else None for v, t in zip(values, types, strict=True)]
        + [None] * tombs,
        [None] * count + [True] * tombs,
    ]
    return pa.Table.from_arrays(
        [pa.array(col, f.type) for col, f in zip(columns, CUSTOM_FIELDS_SCHEMA, strict=True)],
        schema=CUSTOM_FIELDS_SCHEMA,
    )


def with_removed_slugs(
    fields: pa.Table, stored_slugs: Callable[[list[str]], Mapping[str, Iterable[str]]]
) -> pa.Table:
    """Custom-field rows for an upsert keyed by (lead_id, slug), where deleting by lead is not
    possible (lakehouse tables): each stored slug a lead in ``fields`` no longer has gets a
    tombstone row, and the by-lead tombstones (slug "") are dropped, as they match no key.

    ``fields`` must hold every current slug of each lead in it (``custom_fields_table`` with
    tombstones, or ``reconcile``'s hard-delete rows); ``stored_slugs`` reads the stored ones."""
    import pyarrow.compute as pc  # as in `_custom_field_arrays`

    lead_ids = pc.unique(fields["lead_id"]).to_pylist()
    stored = stored_slugs(lead_ids) if lead_ids else {}
    live = fields.filter(pc.invert(pc.fill_null(fields[TOMBSTONE], False)))
    current = set(zip(live["lead_id"].to_pylist(), live["slug"].to_pylist(), strict=True))
    gone = [
        (lead_id, slug)
        for lead_id in lead_ids
        for slug in sorted(stored.get(lead_id, ()))
        if (lead_id, slug) not in current
    ]
    if not gone:
        return live
    count = len(gone)
    tombstones = pa.Table.from_arrays(
        [
            pa.array([lead_id for lead_id, _ in gone], pa.string()),
            pa.array([slug for _, slug in gone], pa.string()),
            pa.nulls(count, pa.string()),
            pa.nulls(count, pa.string()),
            pa.nulls(count, pa.float64()),
            pa.nulls(count, pa.bool_()),
            pa.repeat(True, count),
        ],
        schema=CUSTOM_FIELDS_SCHEMA,
    )
    return pa.concat_tables([live, tombstones])
