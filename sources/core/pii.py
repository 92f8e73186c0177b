"""Personal data kept out of the warehouse: per column, its values hashed or dropped (the
column stays, always NULL), applied to the rows as they are shaped from the API, before anything
is written.

A hash is HMAC-SHA256 under the source's ``pii_key`` secret (else plain SHA-256, which a
dictionary of likely emails can reverse: set the key), over the value trimmed and lower-cased so
that the same email hashes alike in both sources and can still be joined on.

The rules a table's rows were loaded under are kept in the resource's state (``STATE_KEY``),
committed with the rows: a run whose rules differ is refused (``RulesChanged``), since a rule
applies only to the rows a run loads and the plaintext of earlier ones would stay.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from .errors import ConfigurationError

ACTIONS = ("hash", "drop")
STATE_KEY = "pii_rules"  # in the resource state: the rules the rows loaded were shaped under
_HELD = {None: "plaintext", "hash": "hashed", "drop": "dropped"}


class RulesChanged(ConfigurationError):
    """The rules differ from those the rows loaded were shaped under; ``rules``: the new ones
    as a setting's text, for the command that reloads every row under them."""

    def __init__(self, changes: Mapping[str, tuple[str | None, str | None]], rules: str) -> None:
        self.rules = rules
        said = ", ".join(
            f"{column} ({_HELD[was]} in the rows loaded, {_HELD[now]} by the rules now)"
            for column, (was, now) in sorted(changes.items())
        )
        self.reason = f"pii: the rules changed for columns already loaded: {said}"
        super().__init__(
            f"{self.reason}; a full refresh with these rules (--full-refresh, from Python "
            "run(full_refresh=True)) reloads every row under them"
        )

    def with_command(self, command: str) -> ConfigurationError:
        return ConfigurationError(f"{self.reason}; to reload every row under them run: {command}")


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

    @property
    def text(self) -> str:
        """The rules as the setting takes them: ``contact_email=hash,contact_name=drop``."""
        return ",".join(f"{column}={action}" for column, action in sorted(self.rules.items()))

    def record(self, resource_state: dict[str, Any]) -> None:
        """Kept with each load's state: what ``check_loaded`` compares a later run's rules to."""
        resource_state[STATE_KEY] = dict(self.rules)

    def check_loaded(
        self, resource_state: Mapping[str, Any], holds_rows: Callable[[], bool]
    ) -> None:
        """Refuse rules other than those the rows loaded were shaped under (rows loaded before
        the rules were recorded count as plaintext). ``holds_rows`` is asked only on a change:
        with no row loaded any rules may start."""
        loaded: Mapping[str, str] = resource_state.get(STATE_KEY) or {}
        changes = {
            column: (loaded.get(column), self.rules.get(column))
            for column in {*loaded, *self.rules}
            if loaded.get(column) != self.rules.get(column)
        }
        if changes and holds_rows():
            raise RulesChanged(changes, self.text)

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
