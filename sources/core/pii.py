"""Personal data kept out of the warehouse: per column, its values hashed or dropped (the
column stays, always NULL), applied to the rows as they are shaped from the API, before anything
is written.

A hash is HMAC-SHA256 under the source's ``pii_key`` secret (else plain SHA-256, which a
dictionary of likely emails can reverse: set the key), over the value trimmed and lower-cased so
that the same email hashes alike in both sources and can still be joined on.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from .errors import ConfigurationError

ACTIONS = ("hash", "drop")


@dataclass(frozen=True)
class PiiPolicy:
    rules: Mapping[str, str] = field(default_factory=dict)  # column -> "hash" | "drop"
    key: bytes | None = field(default=None, repr=False)

    @classmethod
    def parse(
        cls,
        text: str | Mapping[str, str] | None,
        key: str | None,
        columns: Sequence[str],
        setting: str,
    ) -> PiiPolicy:
        """``"contact_email=hash,contact_name=drop"`` or a mapping; ``columns``: the source's
        personal-data columns, the only ones a rule may name."""
        if not text:
            return cls()
        pairs = dict(text) if isinstance(text, Mapping) else _pairs(str(text), setting)
        for column, action in pairs.items():
            if column not in columns:
                raise ConfigurationError(
                    f"{setting}: {column!r} is not a personal-data column; they are "
                    f"{', '.join(columns)}"
                )
            if action not in ACTIONS:
                raise ConfigurationError(
                    f"{setting}: {column} must be hash or drop, got {action!r}"
                )
        return cls(pairs, key.encode() if key else None)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def apply(self, rows: pa.Table) -> pa.Table:
        for column, action in self.rules.items():
            if column not in rows.column_names:
                continue
            index = rows.schema.get_field_index(column)
            if action == "drop":
                # The column stays, always NULL: the tables keep one shape whatever the rules.
                rows = rows.set_column(
                    index,
                    rows.schema.field(index),
                    pa.nulls(len(rows), rows.schema.field(index).type),
                )
            else:
                hashed = pa.array([self._hash(v) for v in rows[column].to_pylist()], pa.string())
                rows = rows.set_column(
                    index, rows.schema.field(index).with_type(pa.string()), hashed
                )
        return rows

    def _hash(self, value: object) -> str | None:
        if value is None:
            return None
        data = str(value).strip().lower().encode()
        if self.key:
            return hmac.new(self.key, data, hashlib.sha256).hexdigest()
        return hashlib.sha256(data).hexdigest()


def _pairs(text: str, setting: str) -> dict[str, str]:
    pairs = {}
    for part in text.split(","):
        column, sep, action = part.partition("=")
        if not sep:
            raise ConfigurationError(
                f"{setting} must be column=hash|drop[,…], got {part.strip()!r}"
            )
        pairs[column.strip()] = action.strip()
    return pairs
