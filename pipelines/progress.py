"""Progress of a sweep as a user reads it: done/total, %, rate, ETA and page, every few seconds.

On a terminal it is a live, transient ``rich`` bar on stderr; anywhere else (a pipe, a file, an
orchestrator's log) it is a plain "mega" log line at most every ``every_s`` seconds. Either way
it is silent when the "mega" logger does not log INFO (``--quiet``, or ``run()`` called from
Python without logging configured), so it never says more than the run's other messages.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, TYPE_CHECKING, TextIO

# rich only for a bar, imported when one is drawn: a run logging to a pipe or a file (cron, an
# orchestrator) does not pay for it at start-up.
if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger("crm_leads.run")

EVERY_S = 5.0  # plain lines: often enough to see a run move, rare enough for a log file
BAR_REFRESH_S = 0.25  # the bar redraws at most this often: cheap next to a page's parsing


def describe(done: int, total: int | None, elapsed_s: float, pages: int | None = None) -> str:
    """`12,300 / 50,000 leads (24.6 %), 3,100 leads/s, ETA 15 s, page 123`; without a total,
    only what is known; without ``pages``, no page."""
    if total:
        parts = [f"{done:,} / {total:,} leads ({percent(done, total):.1f} %)"]
    else:
        parts = [f"{done:,} leads"]
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    if rate > 0:
        parts.append(f"{rate:,.0f} leads/s")
        # Past the total (leads updated mid-run are read twice) no honest ETA is left to give.
        if total and done < total:
            parts.append(f"ETA {duration((total - done) / rate)}")
    if pages is not None:
        parts.append(f"page {pages:,}")
    return ", ".join(parts)


def percent(done: int, total: int) -> float:
    """Rounded down, so 100.0 % means done; capped, as re-read leads can pass the total."""
    return min(100.0, math.floor(done * 1000 / total) / 10)


def duration(seconds: float) -> str:
    whole = math.ceil(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


class Progress:
    """One sweep's progress. Call `advance` once per page received, `set_total` when the API's
    `total` becomes known (often with the first page), and `close` at the end, also on failure
    (or use it as a context manager). Not thread-safe: call it from the thread that reads pages.

    ``bar``: None decides by the stream (a TTY gets the bar); False forces plain lines.
    ``console``: a ready rich Console for the bar (tests: ``force_terminal=True`` on a StringIO).
    """

    def __init__(
        self,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        every_s: float = EVERY_S,
        bar: bool | None = None,
        console: Console | None = None,
    ) -> None:
        self.total = total or None  # the API says 0 for nothing due: no bar to fill
        self.pages = 0
        self.leads = 0
        self._clock = clock
        self._every_s = every_s
        self._started = clock()
        self._last_line = self._started
        self._last_draw = -math.inf
        self._enabled = log.isEnabledFor(logging.INFO)
        self._bar: _Bar | None = None
        if self._enabled and bar is not False:
            stream = sys.stderr if stream is None else stream
            if console is None and _is_tty(stream):
                from rich.console import Console

                console = Console(file=stream)
            if console is not None and console.is_terminal and not console.is_dumb_terminal:
                self._bar = _Bar(console, clock, self.total)

    @property
    def is_bar(self) -> bool:
        return self._bar is not None

    def set_total(self, total: int | None) -> None:
        """The leads due, once known; the first value sticks (a later page's `total` counts
        from a later `updated_since`)."""
        if self.total is None and total:
            self.total = total
            if self._bar is not None:
                self._bar.set_total(total)

    def advance(self, pages: int, leads: int) -> None:
        self.pages += pages
        self.leads += leads
        if not self._enabled:
            return
        now = self._clock()
        if self._bar is not None:
            if now - self._last_draw >= BAR_REFRESH_S:
                self._last_draw = now
                # The bar leaves the page out, to fit 80 columns beside it.
                elapsed = now - self._started
                self._bar.draw(self.leads, describe(self.leads, self.total, elapsed))
        elif now - self._last_line >= self._every_s:
            self._last_line = now
            log.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        now = self._clock() if now is None else now
        return describe(self.leads, self.total, now - self._started, self.pages)

    def close(self) -> None:
        """Erase the bar (the run's summary follows); plain lines need no ending."""
        if self._bar is not None:
            bar, self._bar = self._bar, None
            bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class _Bar:
    """The live bar. Redrawn only from `draw` (no refresh thread), so what it shows is what the
    last page said, and tests drive it with their own clock."""

    def __init__(self, console: Console, clock: Callable[[], float], total: int | None) -> None:
        from rich.progress import BarColumn, TextColumn
        from rich.progress import Progress as RichProgress

        self._console = console
        self._total = total
        self._rich = RichProgress(
            BarColumn(),  # shrinks first when the terminal is narrow
            TextColumn("{task.fields[line]}", markup=False),
            console=console,
            auto_refresh=False,
            transient=True,
            get_time=clock,
            # Writes to sys.stderr (warnings) print above the bar; stdout may be a pipe for the
            # summary, so it is left alone. Log handlers hold their stream: rerouted below.
            redirect_stdout=False,
            redirect_stderr=console.file is sys.stderr,
        )
        self._task = self._rich.add_task("", total=total, line="waiting for the first page")
        self._handlers = _reroute_handlers(console)
        self._rich.start()

    def set_total(self, total: int) -> None:
        self._total = total
        self._rich.update(self._task, total=total)

    def draw(self, leads: int, line: str) -> None:
        # The bar stops full when re-read leads pass the total; the text keeps the real count.
        done = leads if self._total is None else min(leads, self._total)
        self._rich.update(self._task, completed=done, line=line, refresh=True)

    def close(self) -> None:
        try:
            self._rich.stop()
        finally:
            for handler, stream in self._handlers:
                handler.setStream(stream)


def _reroute_handlers(console: Console) -> list[tuple[logging.StreamHandler[IO[str]], IO[str]]]:
    """Point the log handlers that write where the bar is drawn (the run's own messages,
    warnings) at rich, which prints their lines above the bar instead of through it."""
    from rich.file_proxy import FileProxy

    rerouted: list[tuple[logging.StreamHandler[IO[str]], IO[str]]] = []
    logger: logging.Logger | None = log
    while logger is not None:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and _same_screen(
                handler.stream, console.file
            ):
                proxy = FileProxy(console, handler.stream)
                rerouted.append((handler, handler.stream))
                handler.setStream(proxy)
        logger = logger.parent if logger.propagate else None
    return rerouted


def _same_screen(stream: IO[str], bar_file: IO[str]) -> bool:
    """The bar's own stream, or another on the same terminal (the demo logs to stdout, the bar
    is on stderr: both the same tty)."""
    if stream is bar_file:
        return True
    try:
        same = os.path.samestat(os.fstat(stream.fileno()), os.fstat(bar_file.fileno()))
        return same and stream.isatty()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return False
