"""Requests with up to K in flight: one call per item on a small thread pool, answers in the
items' order. The threads share the caller's client, so one rate-limit budget and one retry
policy hold for all of them (``http.py``, ``pacing.py``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
