"""Push rows to one target with K requests in flight, exactly once in effect.

Per row: the target maps and validates it (a row that fails is rejected locally, no request);
the ledger says whether this content is already there (then it costs nothing); otherwise it is
sent with an Idempotency-Key derived from its content (``keys.py``). A 400/409 rejects that row
with the API's message and the push goes on; 401/403, or an outage outlasting the retry policy,
stop it. The ledger is written after every batch, so a stopped push keeps what it did.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from sources.core.errors import ApiError, ConnectorError
from sources.core.fanout import FanOut
from sources.core.pacing import ClientStats

from .keys import idempotency_key, payload_hash
from .ledger import Entry, Ledger

log = logging.getLogger("crm_leads.push")

BATCH_ROWS = 200  # rows sent between two ledger writes
# Answers that refuse one row, not the push: validation (400, Leads v1's 422) and conflicts
# (409: an Idempotency-Key reused with another body, or a duplicate).
REJECTING = (400, 409, 422)


class Rejected(Exception):
    """A row the target refuses: locally (validation) or by a 400/409 answer."""

    def __init__(self, reason: str, request_id: str | None = None) -> None:
        super().__init__(reason)
        self.request_id = request_id


@dataclass(frozen=True)
class Sent:
    """What the target answered for one row."""

    status: str  # created | merged | updated | unchanged
    remote_id: str | None
    request_id: str | None = None


class Target(Protocol):
    name: str  # the ledger's target: "mega", "apollo", "leads_v1"
    account: str  # whose data: customer or organization id
    upsert: bool  # changed rows are updated (else create-only: they are skipped)
    mapping: Mapping[str, str]  # target field -> row column; empty: columns named like fields
    required: dict[str, str]  # fields every row needs -> how else to give one (a setting)
    stats: ClientStats

    def payload(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The request body for ``row``, mapped and validated; raises ``Rejected``."""
        ...

    def send(
        self, payload: dict[str, Any], key: str, entry: Entry | None, changed: dict[str, Any]
    ) -> Sent:
        """Create (or, for an upsert target with a remote id, update) one row; ``changed``: the
        fields whose value differs from what the ledger says was pushed (all of them if new)."""
        ...

    def close(self) -> None: ...


@dataclass
class PushResult:
    target: str
    dry_run: bool = False
    rows: int = 0
    created: int = 0
    merged: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0
    failed: int = 0
    requests: int = 0
    retries: int = 0
    duration_s: float = 0.0
    rejections: list[tuple[str, str]] = field(default_factory=list)  # (row key, reason)
    error: str | None = None

    def count(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)

    def summary(self) -> str:
        verb = "would send" if self.dry_run else "pushed"
        text = (
            f"{self.target}: {self.rows} rows: {self.created} created, {self.merged} merged, "
            f"{self.updated} updated, {self.unchanged} unchanged, {self.skipped} skipped "
            f"(create-only), {self.rejected} rejected, {self.failed} failed; {verb} with "
            f"{self.requests} requests ({self.retries} retries) in {self.duration_s:.1f} s"
        )
        for row_key, reason in self.rejections[:5]:
            text += f"\n  rejected {row_key}: {reason}"
        if len(self.rejections) > 5:
            text += f"\n  … and {len(self.rejections) - 5} more (see the ledger)"
        return text


@dataclass
class _Planned:
    row_key: str
    payload: dict[str, Any]
    content_hash: str  # for the Idempotency-Key
    stored_hash: str  # keyed, for the ledger
    entry: Entry | None
    secrets: tuple[str, ...]  # the row's values, kept out of what the ledger records


class Pusher:
    def __init__(self, target: Target, ledger: Ledger, concurrency: int, key_column: str) -> None:
        self.target = target
        self.ledger = ledger
        self.key_column = key_column
        self._fanout = FanOut(concurrency, name="mega-push")
        self.last_result: PushResult | None = None  # kept when a push stops early
        # The first error that stops the push: rows not yet sent then are not sent at all.
        self._halt: ConnectorError | None = None
        self._rejected: list[Entry] = []  # rows refused before sending, for the ledger

    def close(self) -> None:
        self._fanout.close()

    def push(self, rows: Iterable[Mapping[str, Any]], dry_run: bool = False) -> PushResult:
        target, started = self.target, time.monotonic()
        result = PushResult(target.name, dry_run=dry_run)
        self.last_result = result
        known = self.ledger.entries(target.name, target.account)
        try:
            for batch in _batches(self._plan(rows, known, result), BATCH_ROWS):
                if dry_run:
                    for planned in batch:
                        print(f"{target.name} {planned.row_key}: {planned.payload}")
                        result.count("created" if planned.entry is None else "updated")
                    continue
                self._send(batch, result)
                self._record_rejected()
        finally:
            if not dry_run:
                self._record_rejected()
            stats = target.stats.snapshot()
            result.requests, result.retries = int(stats["requests"]), int(stats["retries"])
            result.duration_s = round(time.monotonic() - started, 3)
        return result

    def _plan(
        self, rows: Iterable[Mapping[str, Any]], known: dict[str, Entry], result: PushResult
    ) -> Iterator[_Planned]:
        target = self.target
        seen: dict[str, int] = {}  # row key -> its row's number
        for row in rows:
            result.rows += 1
            row_key = row.get(self.key_column)
            if row_key is None or row_key == "":
                result.count("rejected")
                result.rejections.append(("?", f"no value in the key column `{self.key_column}`"))
                continue
            row_key = str(row_key)
            if row_key in seen:  # both would be created: the first row stands
                result.count("rejected")
                result.rejections.append((row_key, f"the key of row {seen[row_key]} too"))
                continue
            seen[row_key] = result.rows
            entry = known.get(row_key)
            try:
                payload = target.payload(row)
            except Rejected as exc:
                result.count("rejected")
                result.rejections.append((row_key, str(exc)))
                self._rejected.append(self._entry(row_key, None, entry, "rejected", error=str(exc)))
                continue
            stored_hash = self.ledger.fingerprints.payload(payload)
            if entry is not None and entry.done and entry.payload_hash == stored_hash:
                result.count("unchanged")
            elif entry is not None and entry.done and not target.upsert:
                result.count("skipped")
            else:
                values = _values(row, row_key)
                yield _Planned(row_key, payload, payload_hash(payload), stored_hash, entry, values)

    def _record_rejected(self) -> None:
        self.ledger.record(self._rejected)
        self._rejected = []

    def _send(self, batch: list[_Planned], result: PushResult) -> None:
        answers = self._fanout.map(self._one, batch)
        entries, fatal = [], None
        for planned, answer in zip(batch, answers, strict=True):
            if isinstance(answer, Sent):
                result.count(answer.status)
                entries.append(
                    self._entry(
                        planned.row_key,
                        planned,
                        planned.entry,
                        answer.status,
                        remote_id=answer.remote_id,
                        request_id=answer.request_id,
                    )
                )
            elif isinstance(answer, Rejected):
                reason = _redacted(str(answer), planned.secrets)
                result.count("rejected")
                result.rejections.append((planned.row_key, reason))
                entries.append(
                    self._entry(
                        planned.row_key,
                        planned,
                        planned.entry,
                        "rejected",
                        error=reason,
                        request_id=answer.request_id,
                    )
                )
            elif answer is None:
                continue  # not sent: the push stopped before it
            else:
                result.count("failed")
                reason = _redacted(str(answer), planned.secrets)
                entries.append(
                    self._entry(planned.row_key, planned, planned.entry, "failed", error=reason)
                )
                fatal = fatal or answer
        self.ledger.record(entries)
        if fatal is not None:
            raise fatal

    def _one(self, planned: _Planned) -> Sent | Rejected | ConnectorError | None:
        if self._halt is not None:
            return None
        target = self.target
        key = idempotency_key(target.name, target.account, planned.row_key, planned.content_hash)
        try:
            return target.send(planned.payload, key, planned.entry, self._changed(planned))
        except Rejected as exc:
            return exc
        except ApiError as exc:
            if exc.status in REJECTING:
                return Rejected(f"{exc.status} {exc.error_type}: {exc.api_message}")
            self._halt = exc
            return exc
        except ConnectorError as exc:
            self._halt = exc
            return exc

    def _changed(self, planned: _Planned) -> dict[str, Any]:
        if planned.entry is None:
            return dict(planned.payload)
        known, hashes = planned.entry.field_hashes, self.ledger.fingerprints.fields(planned.payload)
        return {
            name: value
            for name, value in planned.payload.items()
            if known.get(name) != hashes[name]
        }

    def _entry(
        self,
        row_key: str,
        planned: _Planned | None,
        entry: Entry | None,
        status: str,
        remote_id: str | None = None,
        error: str | None = None,
        request_id: str | None = None,
    ) -> Entry:
        """The ledger row after this attempt; a rejected or failed update keeps what is there."""
        target = self.target
        kept = entry if entry is not None and status in ("rejected", "failed") else None
        if kept or planned is None:
            hashes = kept.field_hashes if kept else {}
        else:
            # An update sends only what changed: the fields the row lacked keep their hashes.
            known = entry.field_hashes if entry is not None and target.upsert else {}
            hashes = {**known, **self.ledger.fingerprints.fields(planned.payload)}
        return Entry(
            target=target.name,
            account=target.account,
            row_key=row_key,
            payload_hash=kept.payload_hash if kept else planned.stored_hash if planned else None,
            field_hashes=hashes,
            remote_id=remote_id or (entry.remote_id if entry else None),
            # A row once pushed stays so (its remote id, its status) when a later version of it
            # is refused or fails: a create-only target must not create it again.
            status=kept.status if kept and kept.done else status,
            attempts=(entry.attempts if entry else 0) + (1 if planned else 0),
            last_error=error,
            request_id=request_id,
            pushed_at=datetime.now(timezone.utc),
        )


def _values(row: Mapping[str, Any], row_key: str) -> tuple[str, ...]:
    """The row's text values long enough to name someone (its key is in the ledger anyway)."""
    found = {str(value).strip() for value in row.values() if isinstance(value, str | int | float)}
    return tuple(sorted((v for v in found if len(v) >= 4 and v != row_key), key=len, reverse=True))


def _redacted(message: str, values: tuple[str, ...]) -> str:
    """An API's message without the row's values (some APIs quote what they refuse)."""
    for value in values:
        message = message.replace(value, "…")
    return message


def _batches(items: Iterable[_Planned], size: int) -> Iterator[list[_Planned]]:
    batch: list[_Planned] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
