"""Push rows to one target with K requests in flight, exactly once in effect.

Per row: the target maps and validates it (a row that fails is rejected locally, no request);
the ledger says whether this content is already there (then it costs nothing); otherwise it is
sent with an Idempotency-Key derived from its content (``keys.py``). A 400/409 rejects that row
with the API's message and the push goes on; 401/403, or an outage outlasting the retry policy,
stop it, and so does ``stop`` (the caller's Ctrl-C / SIGTERM): the requests in flight finish,
none starts after. Outcomes reach the ledger as they arrive (every FLUSH_ROWS rows or
FLUSH_SECONDS), so a stopped push keeps what it did.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Protocol

import orjson

from sources.core.errors import ApiError, ConnectorError, Interrupted
from sources.core.fanout import FanOut
from sources.core.pacing import ClientStats

from .keys import idempotency_key, payload_hash
from .ledger import Entry, Ledger
from .result import PushResult
from .rows import filled

log = logging.getLogger("crm_leads.push")

# Outcomes are written to the ledger in batches (one insert costs ~2 ms whatever its size),
# at the latest this often: a crash resends at most the rows of the last second (RESULTS.md).
FLUSH_ROWS, FLUSH_SECONDS = 200, 1.0
OnChange = Literal["skip", "fail"]  # a changed row on a create-only target
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
    upsert: bool  # changed rows are updated (else create-only: see OnChange)
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
class _Planned:
    row_key: str
    payload: dict[str, Any]
    content_hash: str  # for the Idempotency-Key
    stored_hash: str  # keyed, for the ledger
    entry: Entry | None
    secrets: tuple[str, ...]  # the row's values, kept out of what the ledger records


class Pusher:
    def __init__(
        self,
        target: Target,
        ledger: Ledger,
        concurrency: int,
        key_column: str,
        on_change: OnChange = "skip",
        details_file: Path | None = None,
        stop: threading.Event | None = None,
        account: str | None = None,
    ) -> None:
        """``details_file``: where the summary lists the rows rejected or skipped when they are
        too many for it (``PushResult.summary``); ``stop``: set, no further request starts;
        ``account``: the name of one of several accounts, which the summary gives."""
        self.target = target
        self.account = account
        self.details_file = details_file
        self.ledger = ledger
        self.key_column = key_column
        self.on_change = on_change
        self._fanout = FanOut(concurrency, name="mega-push")
        self.last_result: PushResult | None = None  # kept when a push stops early
        # The first error that stops the push: rows not yet sent then are not sent at all.
        self._halt: ConnectorError | None = None
        self._stop = stop if stop is not None else threading.Event()
        self._unsent = False  # rows left unsent by a stop: the push was interrupted
        self._unwritten: list[Entry] = []  # outcomes not yet in the ledger
        self._written_at = time.monotonic()
        self._dry_run = False

    def close(self) -> None:
        self._fanout.close()

    def push(self, rows: Iterable[Mapping[str, Any]], dry_run: bool = False) -> PushResult:
        """Push ``rows``; a dry run sends and records nothing and prints a JSON line per row
        (``key``, ``action``, and the ``payload`` it would send or the ``reason`` it would not)."""
        target, started = self.target, time.monotonic()
        result = PushResult(
            target.name,
            self.account,
            dry_run=dry_run,
            details_file=self.details_file,
            ledger_file=self.ledger.path.resolve(),
        )
        self.last_result, self._dry_run = result, dry_run
        known = self.ledger.entries(target.name, target.account)
        try:
            planned = self._plan(rows, known, result)
            if dry_run:
                for item in planned:
                    new = item.entry is None or not item.entry.remote_id
                    body = filled(item.payload) if new else self._changed(item)
                    self._say(item.row_key, "create" if new else "update", payload=body)
                    result.count("created" if new else "updated")
                return result
            for item, answer in self._fanout.stream(self._one, self._until_stopped(planned)):
                self._outcome(item, answer, result)
                if self._due():
                    self._write()
        finally:
            if not dry_run:
                self._write()
            stats = target.stats.snapshot()
            result.requests, result.retries = int(stats["requests"]), int(stats["retries"])
            result.duration_s = round(time.monotonic() - started, 3)
        if self._halt is not None:
            raise self._halt
        if self._unsent:
            raise Interrupted(
                f"interrupted; {result.created + result.merged + result.updated} rows sent, "
                "kept in the ledger; run again: what was sent is not sent twice"
            )
        return result

    def _until_stopped(self, planned: Iterator[_Planned]) -> Iterator[_Planned]:
        """Rows are read only while the push goes on: none after a halt or a stop."""
        for item in planned:
            if self._stopping():
                self._unsent = True
                return
            yield item

    def _stopping(self) -> bool:
        return self._halt is not None or self._stop.is_set()

    def _plan(
        self, rows: Iterable[Mapping[str, Any]], known: dict[str, Entry], result: PushResult
    ) -> Iterator[_Planned]:
        target = self.target
        seen: dict[str, int] = {}  # row key -> its row's number
        for row in rows:
            result.rows += 1
            row_key = row.get(self.key_column)
            if row_key is None or row_key == "":
                reason = f"no value in the key column `{self.key_column}`"
                self._refuse(result, "?", None, reason, record=False)
                continue
            row_key = str(row_key)
            if row_key in seen:  # both would be created: the first row stands
                reason = f"the key of row {seen[row_key]} too"
                self._refuse(result, row_key, None, reason, record=False)
                continue
            seen[row_key] = result.rows
            entry = known.get(row_key)
            try:
                payload = target.payload(row)
            except Rejected as exc:
                self._refuse(result, row_key, entry, str(exc))
                continue
            fingerprints = self.ledger.fingerprints
            stored_hash = fingerprints.payload(payload)
            if (
                entry is not None
                and entry.done
                and fingerprints.legacy(entry.payload_hash, payload)
            ):
                entry = replace(
                    entry, payload_hash=stored_hash, field_hashes=fingerprints.fields(payload)
                )
                if not self._dry_run:
                    self._unwritten.append(entry)  # the same content, its hashes now keyed
            if entry is not None and entry.done and entry.payload_hash == stored_hash:
                result.count("unchanged")
                self._say(row_key, "unchanged")
            elif entry is not None and entry.done and not target.upsert:
                self._changed_on_create_only(result, row_key, entry)
            else:
                values = _values(row, row_key)
                yield _Planned(row_key, payload, payload_hash(payload), stored_hash, entry, values)

    def _changed_on_create_only(self, result: PushResult, row_key: str, entry: Entry) -> None:
        if self.on_change == "fail":
            reason = f"changed since it was pushed; {self.target.name} only creates"
            self._refuse(result, row_key, entry, reason)
            return
        result.count("skipped")
        result.skips.append(row_key)
        self._say(row_key, "skip", reason="changed since it was pushed; the target only creates")

    def _refuse(
        self,
        result: PushResult,
        row_key: str,
        entry: Entry | None,
        reason: str,
        record: bool = True,
    ) -> None:
        """A row rejected before sending: counted, said, and kept in the ledger unless ``record``
        is false (no key, or another row's: its ledger row is that row's)."""
        result.reject(row_key, reason)
        self._say(row_key, "reject", reason=reason)
        if record and not self._dry_run:
            self._unwritten.append(self._entry(row_key, None, entry, "rejected", error=reason))

    def _say(self, row_key: str, action: str, **what: Any) -> None:
        if self._dry_run:
            # Several accounts' dry runs share stdout (one row key may be in each).
            own = {"account": self.account} if self.account is not None else {}
            line = orjson.dumps({"key": row_key, **own, "action": action, **what}, default=str)
            sys.stdout.write(line.decode() + "\n")

    def _outcome(
        self, planned: _Planned, answer: Sent | Exception | None, result: PushResult
    ) -> None:
        if answer is None:
            self._unsent = True  # not sent: the push stopped before it
            return
        if isinstance(answer, Sent):
            result.count(answer.status)
            entry = self._entry(
                planned.row_key,
                planned,
                planned.entry,
                answer.status,
                remote_id=answer.remote_id,
                request_id=answer.request_id,
            )
        else:
            reason = _redacted(str(answer), planned.secrets)
            rejected = isinstance(answer, Rejected)
            if rejected:
                result.reject(planned.row_key, reason)
            else:
                result.count("failed")
            status = "rejected" if rejected else "failed"
            request_id = answer.request_id if isinstance(answer, Rejected) else None
            entry = self._entry(
                planned.row_key, planned, planned.entry, status, error=reason, request_id=request_id
            )
        self._unwritten.append(entry)

    def _due(self) -> bool:
        return (
            len(self._unwritten) >= FLUSH_ROWS
            or time.monotonic() - self._written_at >= FLUSH_SECONDS
        )

    def _write(self) -> None:
        self.ledger.record(self._unwritten)
        self._unwritten, self._written_at = [], time.monotonic()

    def _one(self, planned: _Planned) -> Sent | Rejected | ConnectorError | None:
        if self._stopping():  # drawn before the halt or the stop: not sent
            return None
        target = self.target
        key = idempotency_key(target.name, target.account, planned.row_key, planned.content_hash)
        try:
            return target.send(planned.payload, key, planned.entry, self._changed(planned))
        except Rejected as exc:
            return exc
        except Interrupted:  # a stop ended a wait before a retry: unsent, sent by the next run
            return None
        except ApiError as exc:
            if exc.status in REJECTING:
                return Rejected(f"{exc.status} {exc.error_type}: {exc.api_message}")
            self._halt = self._halt or exc
            return exc
        except ConnectorError as exc:
            self._halt = self._halt or exc
            return exc

    def _changed(self, planned: _Planned) -> dict[str, Any]:
        if planned.entry is None:
            return dict(planned.payload)
        return self.ledger.fingerprints.changed(planned.entry.field_hashes, planned.payload)

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
