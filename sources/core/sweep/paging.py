"""Keyset paging over a list endpoint, with the next page fetched while this one is processed.

003: pass the cursor back with the same sort; null means no more pages. A cursor is only valid
for the sort (and, in practice, the deployment) that made it: a resumed cursor that the API
rejects with 400 falls back to the since-parameter, which is always safe because the
high-water mark is inclusive.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from sources.core.endpoint import Keyset
from sources.core.errors import Interrupted, InvalidRequestError, MalformedResponseError

from .handoff import Handoff

log = logging.getLogger("crm_leads.core")


@dataclass(frozen=True)
class Page:
    number: int
    items: list[dict[str, Any]]
    next_cursor: str | None
    total: int | None
    raw: bytes | None = field(default=None, repr=False)  # the JSON body, for `raw_pages`


@dataclass(frozen=True)
class StartPosition:
    cursor: str | None
    updated_since: str | None  # the since-parameter's value
    # A cursor saved by an earlier run may have expired; one handed on within this run has not.
    cursor_saved: bool = True
    # A resumed sweep sends the since-parameter beside its saved cursor: the API's total then
    # counts the items still due, not every item since the sweep began (001: it ignores the
    # cursor). ``loaded_at_since``: items at that instant already loaded, which it counts too.
    since_with_cursor: bool = False
    loaded_at_since: int = 0


_DONE = object()


class PageStream:
    """Pages of one sweep in order. With ``prefetch > 0`` a thread keeps up to that many pages
    fetched ahead; pages are only ever requested while the cursor is non-null, so a finished
    sweep never makes a wasted request.

    ``raw_pages``: pages for a process that decodes them itself (the fetch process): each keeps
    its body, and its items are left unread when the cursor can be peeked (``peek_cursor``)."""

    def __init__(
        self,
        keyset: Keyset,
        client: Any,
        params: Mapping[str, str],
        start: StartPosition,
        prefetch: int = 2,
        first_number: int = 1,
        raw_pages: bool = False,
        interrupt: threading.Event | None = None,
    ) -> None:
        self.keyset = keyset
        self.client = client
        self.params = dict(params)
        self.start = start
        self.first_number = first_number
        self.raw_pages = raw_pages
        self.first_total: int | None = None
        self._prefetch = prefetch
        self._interrupt = interrupt
        self._handoff = Handoff(prefetch, interrupt)
        self._thread: threading.Thread | None = None
        self._pages = self._fetch_all()
        self.finished = False

    def __iter__(self) -> Iterator[Page]:
        return self

    def __next__(self) -> Page:
        if self.finished:
            raise StopIteration
        item = self._next_item()
        if item is _DONE:
            self.finished = True
            raise StopIteration
        if isinstance(item, BaseException):
            self.finished = True
            raise item
        assert isinstance(item, Page)
        return item

    def ready(self) -> bool:
        """A page is waiting; without prefetch, pages are only fetched when asked for."""
        return self._prefetch <= 0 or self.finished or self._handoff.ready()

    def close(self) -> None:
        self._handoff.stop([self._thread] if self._thread else [])
        self._thread = None
        self._pages.close()

    def _next_item(self) -> object:
        if self._prefetch <= 0:
            try:
                return next(self._pages)
            except StopIteration:
                return _DONE
        if self._thread is None:
            self._thread = threading.Thread(target=self._produce, name="mega-prefetch", daemon=True)
            self._thread.start()
        return self._handoff.get()

    def _produce(self) -> None:
        try:
            for page in self._pages:
                if not self._handoff.put(page):
                    return
            self._handoff.put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._handoff.put(exc)

    def _fetch_all(self) -> Generator[Page, None, None]:
        cursor, number = self.start.cursor, self.first_number - 1
        seen: set[str] = set()
        while True:
            number += 1
            where = f"page {number}"
            if self._interrupt is not None and self._interrupt.is_set():
                # Requests in flight may finish; none starts once the run is told to stop.
                raise Interrupted(f"interrupted before {where}")
            resumed = number == self.first_number and cursor is not None and self.start.cursor_saved
            page = self._page(self._fetch(cursor, where, resumed=resumed), number, where)
            if self.first_total is None and page.total is not None:
                self.first_total = max(page.total - self.start.loaded_at_since, 0)
            if page.next_cursor is not None:
                if page.next_cursor in seen or page.next_cursor == cursor:
                    raise MalformedResponseError(
                        f"{where}: `{self.keyset.cursor_field}` repeats an earlier cursor; "
                        "the API is looping"
                    )
                seen.add(page.next_cursor)
            yield page
            if page.next_cursor is None or self._handoff.stopped:
                return
            cursor = page.next_cursor

    def _page(self, response: httpx.Response, number: int, where: str) -> Page:
        if not self.raw_pages:
            body = self.client.decode_object(response, where)
            return parse_page(self.keyset, body, number, where)
        raw = response.content
        sure, cursor = peek_cursor(raw, self.keyset.cursor_field)
        if sure:
            return Page(number, [], cursor, None, raw)
        body = self.client.decode_object(response, where)
        return parse_page(self.keyset, body, number, where, raw)

    def _fetch(self, cursor: str | None, where: str, resumed: bool) -> httpx.Response:
        params = dict(self.params)
        if cursor is not None:
            params[self.keyset.cursor_param] = cursor
            if resumed and self.start.since_with_cursor and self.start.updated_since:
                params[self.keyset.since_param] = self.start.updated_since
        elif self.start.updated_since:
            params[self.keyset.since_param] = self.start.updated_since
        try:
            return self.keyset.request(self.client, params, where)
        except InvalidRequestError as exc:
            if not resumed:
                raise
            # 003: "Replaying a cursor with a different sort_by/sort_dir returns 400"; a cursor
            # saved by an interrupted run can also expire. The inclusive mark re-reads safely.
            log.warning(
                "the API rejected the saved cursor (%s); resuming from %s=%s",
                exc,
                self.keyset.since_param,
                self.start.updated_since,
            )
            return self._fetch(None, where, resumed=False)


# A cursor is opaque (001), but every one seen is base64 text; anything else gets decoded.
_CURSOR_VALUE = rb'\s*:\s*(?:(null)|"([A-Za-z0-9+/=_.~-]+)")'
_CURSOR_PAIRS: dict[str, re.Pattern[bytes]] = {}


def peek_cursor(raw: bytes, cursor_field: str = "next_cursor") -> tuple[bool, str | None]:
    """(True, the cursor) read off a body without decoding it (a tenth of the cost), or
    (False, None) when that could be wrong.

    Sure only when the key occurs once: inside a JSON string a quote is escaped, so a second
    unescaped key can only be another key (say, a custom field slug) or a value. If the only
    one is not the top-level key, that key is missing, which the full decode that every page
    gets in the run's process reports as a malformed page."""
    key = f'"{cursor_field}"'.encode()
    at = raw.find(key)
    if at < 0 or raw.find(key, at + 1) >= 0:
        return False, None
    pattern = _CURSOR_PAIRS.get(cursor_field)
    if pattern is None:
        pattern = _CURSOR_PAIRS[cursor_field] = re.compile(re.escape(key) + _CURSOR_VALUE)
    pair = pattern.match(raw, at)
    if pair is None:
        return False, None
    return True, None if pair.group(1) else pair.group(2).decode("ascii")


def parse_page(
    keyset: Keyset, body: dict[str, Any], number: int, where: str, raw: bytes | None = None
) -> Page:
    for key in (keyset.items_key, keyset.cursor_field):
        if key not in body:
            raise MalformedResponseError(f"{where}: the answer has no `{key}`")
    next_cursor = body[keyset.cursor_field]
    if next_cursor is not None and (not isinstance(next_cursor, str) or not next_cursor):
        raise MalformedResponseError(
            f"{where}: `{keyset.cursor_field}` is {next_cursor!r}, not a string"
        )
    total = body.get(keyset.total_field)
    return Page(
        number=number,
        items=check_page_items(keyset, body[keyset.items_key], where),
        next_cursor=next_cursor,
        total=total if isinstance(total, int) and not isinstance(total, bool) else None,
        raw=raw,
    )


def check_page_items(keyset: Keyset, items: Any, where: str) -> list[dict[str, Any]]:
    """The cheap per-page checks: a list of objects, each with a string id and timestamps
    (``Keyset.time_fields`` too) that parse, so that a bad one stops every sweep alike, here,
    with the pages before it committed."""
    if not isinstance(items, list):
        raise MalformedResponseError(
            f"{where}: `{keyset.items_key}` is {type(items).__name__}, not a list"
        )
    id_field, time_field, noun = keyset.id_field, keyset.timestamp_field, keyset.item_name
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise MalformedResponseError(f"{where}: {noun} #{position} is not an object")
        item_id, updated_at = item.get(id_field), item.get(time_field)
        if not isinstance(item_id, str) or not item_id:
            raise MalformedResponseError(f"{where}: {noun} #{position} has no string `{id_field}`")
        if not isinstance(updated_at, str) or not updated_at:
            raise MalformedResponseError(
                f"{where}: {noun} {item_id} has no string `{time_field}` (got {updated_at!r})"
            )
        for name in (time_field, *keyset.time_fields):
            value = item.get(name)
            if value is not None and not _is_timestamp(value):
                raise MalformedResponseError(
                    f"{where}: {noun} {item_id} has `{name}` {str(value)[:40]!r}, not a timestamp"
                )
    return items


def _is_timestamp(value: object) -> bool:
    """An ISO 8601 instant with its offset (the APIs' `...Z`)."""
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False
