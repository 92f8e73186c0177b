"""Requests with up to K in flight: one call per item on a small thread pool, answers in the
items' order (``map``) or as they come (``stream``). The threads share the caller's client, so
one rate-limit budget and one retry policy hold for all of them (``http.py``, ``pacing.py``)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

Item = TypeVar("Item")
Answer = TypeVar("Answer")


class FanOut:
    def __init__(self, concurrency: int, name: str = "mega-fanout") -> None:
        self.concurrency = concurrency
        self._pool = (
            ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=name)
            if concurrency > 1
            else None
        )

    def map(self, call: Callable[[Item], Answer], items: Sequence[Item]) -> list[Answer]:
        """``call`` over ``items``; the first failure is raised once the calls in flight have
        ended, and the calls not yet started are dropped."""
        if self._pool is None or len(items) < 2:
            return [call(item) for item in items]
        futures: list[Future[Answer]] = [self._pool.submit(call, item) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            for future in futures:
                if not future.cancelled():
                    future.exception()  # wait: no thread may outlive the failure unseen
            raise

    def stream(
        self, call: Callable[[Item], Answer], items: Iterable[Item]
    ) -> Iterator[tuple[Item, Answer]]:
        """``call`` over ``items`` with K in flight, each answer as it comes (not in order).
        An item is drawn only when a call ends, so a lazy ``items`` is read as it is used."""
        if self._pool is None:
            for item in items:
                yield item, call(item)
            return
        pending: dict[Future[Answer], Item] = {}
        remaining = iter(items)
        try:
            while True:
                for item in itertools.islice(remaining, self.concurrency - len(pending)):
                    pending[self._pool.submit(call, item)] = item
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield pending.pop(future), future.result()
        finally:
            for future in pending:
                future.cancel()
            wait(pending)  # no thread may outlive the stream unseen

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
