"""The push ledger: one row per (target, account, row key) in a DuckDB table, ``push._push_ledger``
(by default in the connector's DuckDB file, beside the lead tables).

It records what was last pushed (a payload hash and per-field hashes, keyed with a secret kept
apart from it (``secret_key.py``); never the payload, which holds personal data), the remote
id, the status, attempts, the last error and when. A row whose payload hash is unchanged since
a successful push costs nothing on the next run. The ledger is an optimisation and a record,
not what makes a push safe: a crash before the ledger is written is covered by the idempotency
keys (``keys.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from sources.core.errors import DestinationError, one_line

from .keys import Fingerprints

SCHEMA, TABLE = "push", "_push_ledger"
_COLUMNS = (
    "target",
    "account",
    "row_key",
    "payload_hash",
    "field_hashes",
    "remote_id",
    "status",
    "attempts",
    "last_error",
    "request_id",
    "pushed_at",
)
_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.{TABLE} (
    target VARCHAR NOT NULL,
    account VARCHAR NOT NULL,
    row_key VARCHAR NOT NULL,
    payload_hash VARCHAR,
    field_hashes VARCHAR,
    remote_id VARCHAR,
    status VARCHAR NOT NULL,
    attempts BIGINT NOT NULL,
    last_error VARCHAR,
    request_id VARCHAR,
    pushed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (target, account, row_key)
)
"""
_TYPES = [pa.string()] * 7 + [pa.int64(), pa.string(), pa.string(), pa.timestamp("us", "UTC")]
# Statuses after which the pushed content is at the target.
DONE = ("created", "merged", "updated", "unchanged")


@dataclass
class Entry:
    target: str
    account: str
    row_key: str
    payload_hash: str | None
    field_hashes: dict[str, str] = field(default_factory=dict)
    remote_id: str | None = None
    status: str = "new"
    attempts: int = 0
    last_error: str | None = None
    request_id: str | None = None
    pushed_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.status in DONE

    def row(self) -> tuple[Any, ...]:
        values = {**self.__dict__, "field_hashes": json.dumps(self.field_hashes, sort_keys=True)}
        return tuple(values[name] for name in _COLUMNS)


class Ledger:
    """The ledger in one DuckDB file, opened for the push (DuckDB allows one writer)."""

    def __init__(self, path: Path, secret: bytes, storage_version: str) -> None:
        """``storage_version``: the format of a file made here (the runs' own, so that the
        DuckDB 1.x CLI and BI tools open it); a file's creation alone sets it."""
        self.path = path
        self.fingerprints = Fingerprints(secret)
        try:
            if not path.exists():
                duckdb.connect(
                    str(path), config={"storage_compatibility_version": storage_version}
                ).close()
            self._con = duckdb.connect(str(path))
            self._con.execute(_DDL)
        except duckdb.Error as exc:
            raise DestinationError(one_line(f"cannot open the push ledger {path}: {exc}")) from None

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """For reading rows to push from the same file (one connection: DuckDB's lock)."""
        return self._con

    def entries(self, target: str, account: str) -> dict[str, Entry]:
        rows = self._con.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM {SCHEMA}.{TABLE} WHERE target = ? AND account = ?",
            [target, account],
        ).fetchall()
        found = {}
        for row in rows:
            values = dict(zip(_COLUMNS, row, strict=True))
            values["field_hashes"] = json.loads(values["field_hashes"] or "{}")
            found[values["row_key"]] = Entry(**values)
        return found

    def record(self, entries: Iterable[Entry]) -> None:
        rows = [entry.row() for entry in entries]
        if not rows:
            return
        # One arrow table a batch: DuckDB's executemany costs ~3 ms a row (RESULTS.md, push).
        columns = zip(*rows, strict=True)
        batch = pa.Table.from_arrays(
            [pa.array(values, kind) for values, kind in zip(columns, _TYPES, strict=True)],
            names=list(_COLUMNS),
        )
        self._con.register("ledger_batch", batch)
        try:
            self._con.execute(
                f"INSERT OR REPLACE INTO {SCHEMA}.{TABLE} ({', '.join(_COLUMNS)}) "
                f"SELECT {', '.join(_COLUMNS)} FROM ledger_batch"
            )
        finally:
            self._con.unregister("ledger_batch")
