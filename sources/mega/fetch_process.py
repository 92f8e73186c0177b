"""The sequential sweep, with a long one fetched by a child process.

Measured (benchmarks/RESULTS.md): a backfill in one interpreter is bound by its GIL; httpx and
JSON decoding take ~1.7 CPU-s per 100k leads, and the fetch thread and the thread shaping rows
for dlt wait on each other. A sweep that the first page's `total` says is long therefore has its
requests made by a child process with its own GIL, which streams each page's raw JSON body back
over a pipe; this process only decodes and shapes. The child does not decode a page: it peeks
`next_cursor` off the body (``paging.peek_cursor``), and this process checks that the cursor it
decodes is the one the child followed. A reader thread buffers the bodies, so the child keeps
fetching while dlt loads a checkpoint. Short sweeps (every scheduled run) stay in process:
starting the child costs ~0.3 s, which a backfill hides by starting it while the run sets up
(``spawn_fetch_process``).

The child imports only the HTTP modules of this package (not dlt), the token reaches it on
stdin (never argv or the environment), and whatever goes wrong there comes back as the same
typed error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Generator, Iterator, Mapping
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: pipes keep their default size
    fcntl = None  # type: ignore[assignment]

import orjson

from sources.core import errors
from sources.core.errors import MegaError
from sources.core.http import json_object

from .client import MegaClient
from .paging import Handoff, Page, PageStream, StartPosition, parse_page

log = logging.getLogger("mega")

_HEADER = struct.Struct("!cI")  # frame kind, payload length
_PAGE, _LOG, _ERROR, _DONE = b"P", b"L", b"E", b"D"
_PIPE_BYTES = 1 << 20  # Linux's default cap for an unprivileged process (fs.pipe-max-size)
# Run in the child: a bare package named after this directory, so that importing the HTTP
# modules does not run the package's __init__ (which imports dlt: +0.5 s). httpx imports its
# command-line client (click, rich: +50 ms) when it can; the child has no use for it. `sources`
# is pinned to this file's tree, so the child's shared core (sources.core) is the parent's too,
# whatever the working directory.
_BOOTSTRAP = (
    "import os, sys, types; pkg = types.ModuleType('_mega_fetch'); pkg.__path__ = [sys.argv[1]]; "
    "sys.modules['_mega_fetch'] = pkg; sys.modules['httpx._main'] = None; "
    "top = types.ModuleType('sources'); top.__path__ = [os.path.dirname(sys.argv[1])]; "
    "sys.modules['sources'] = top; "
    "from _mega_fetch.fetch_process import child_main; sys.exit(child_main())"
)


def spawn_fetch_process() -> subprocess.Popen[bytes]:
    """A fetch process, started: it imports, then waits for its task on stdin. Starting one
    while the run sets up hides its start-up; ``discard_fetch_process`` if it is not needed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _BOOTSTRAP, os.path.dirname(os.path.abspath(__file__))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        # Its own session: a terminal's Ctrl-C goes to the run, which decides, and ends the
        # child when it closes the sweep (no KeyboardInterrupt traceback from the child).
        start_new_session=True,
    )
    assert proc.stdout is not None
    _widen_pipe(proc.stdout)
    return proc


def discard_fetch_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


class SweepStream:
    """Pages of one sweep in order: the first from this process; the rest from a child process
    when more than ``child_min_leads`` leads are due, else from a prefetch thread."""

    def __init__(
        self,
        client: MegaClient,
        params: Mapping[str, str],
        start: StartPosition,
        prefetch: int,
        child_min_leads: int,
        child_buffer_pages: int,
        spawned: subprocess.Popen[bytes] | None = None,
        interrupt: threading.Event | None = None,
    ) -> None:
        self._client, self._params, self._start = client, dict(params), start
        self._interrupt = interrupt
        self._prefetch = prefetch
        self._child_min_leads = child_min_leads
        self._child_buffer_pages = child_buffer_pages
        self._spawned = spawned  # a fetch process started ahead, waiting for its task
        self.first_total: int | None = None
        self._rest: PageStream | ChildPageStream | None = None
        self._pages = self._all_pages()

    def __iter__(self) -> Iterator[Page]:
        return self._pages

    def ready(self) -> bool:
        """Whether the next page is already here (if not, the caller has time to spare)."""
        return self._rest is None or self._rest.ready()

    def close(self) -> None:
        if self._rest is not None:
            self._rest.close()
        self._pages.close()
        self._discard_spawned()

    def _discard_spawned(self) -> None:
        if self._spawned is not None:
            discard_fetch_process(self._spawned)
            self._spawned = None

    def _all_pages(self) -> Generator[Page, None, None]:
        head = PageStream(
            self._client, self._params, self._start, prefetch=0, interrupt=self._interrupt
        )
        first = next(iter(head))
        head.close()
        self.first_total = first.total
        yield first
        if first.next_cursor is None:
            return
        rest = StartPosition(first.next_cursor, self._start.updated_since, cursor_saved=False)
        due = (first.total or 0) - len(first.leads)
        if 0 < self._child_min_leads < due:
            log.info("%d leads due: fetching in a child process", first.total)
            yield from self._child_pages(rest)
        else:
            yield from self._thread_pages(rest)

    def _thread_pages(self, rest: StartPosition) -> Iterator[Page]:
        self._discard_spawned()
        self._rest = PageStream(
            self._client,
            self._params,
            rest,
            prefetch=self._prefetch,
            first_number=2,
            interrupt=self._interrupt,
        )
        return self._rest

    def _child_pages(self, rest: StartPosition) -> Generator[Page, None, None]:
        """The child's pages; if it fails before its first page (say, it cannot start in an
        embedded interpreter), this process fetches them: nothing was read from the child, so
        nothing is read twice."""
        try:
            spawned, self._spawned = self._spawned, None
            child = ChildPageStream(
                self._client,
                self._params,
                rest,
                self._child_buffer_pages,
                first_number=2,
                spawned=spawned,
                interrupt=self._interrupt,
            )
            self._rest = child
            first = next(child, None)
        except (OSError, errors.FetchProcessError) as exc:
            log.warning(
                "the fetch process failed before its first page (%s): fetching in this process",
                exc,
            )
            if self._rest is not None:
                self._rest.close()
            yield from self._thread_pages(rest)
            return
        if first is not None:
            yield first
            yield from child


class ChildPageStream:
    """Pages fetched by a child process (see the module docstring), decoded here in order."""

    def __init__(
        self,
        client: MegaClient,
        params: Mapping[str, str],
        start: StartPosition,
        buffer_pages: int,
        first_number: int,
        spawned: subprocess.Popen[bytes] | None = None,
        interrupt: threading.Event | None = None,
    ) -> None:
        self._stats = client.stats
        self._counted: dict[str, float] = {}
        self._handoff = Handoff(buffer_pages, interrupt)
        self._proc = spawned if spawned is not None else spawn_fetch_process()
        assert self._proc.stdin is not None and self._proc.stdout is not None
        spec = client.child_spec() | {
            "params": dict(params),
            "cursor": start.cursor,
            "updated_since": start.updated_since,
            "first_number": first_number,
        }
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.write(orjson.dumps(spec))
            self._proc.stdin.close()
        self._reader = threading.Thread(
            target=self._read, args=(self._proc.stdout,), name="mega-child-reader", daemon=True
        )
        self._reader.start()
        self._finished = False

    def __iter__(self) -> Iterator[Page]:
        return self

    def __next__(self) -> Page:
        if self._finished:
            raise StopIteration
        frame = self._handoff.get()
        assert isinstance(frame, tuple)
        kind, message, raw = frame
        if kind == _PAGE:
            return self._page(message, raw)
        self._finished = True
        if kind == _ERROR:
            raise _error_from(message)
        raise StopIteration

    def _page(self, message: dict[str, Any], raw: bytes) -> Page:
        number = message["number"]
        where = f"page {number}"
        page = parse_page(json_object(raw, where), number, where)
        if page.next_cursor != message["next_cursor"]:
            self._finished = True
            raise errors.FetchProcessError(
                f"{where}: the fetch process read `next_cursor` {message['next_cursor']!r:.40} "
                f"where the page has {page.next_cursor!r:.40}"
            )
        return page

    def ready(self) -> bool:
        return self._finished or self._handoff.ready()

    def close(self) -> None:
        # Ended first: the reader thread may be blocked reading the child's pipe.
        if self._proc.poll() is None:
            self._proc.terminate()
        self._handoff.stop([self._reader])
        discard_fetch_process(self._proc)

    def _count(self, snapshot: dict[str, float]) -> None:
        deltas = {key: value - self._counted.get(key, 0) for key, value in snapshot.items()}
        self._counted = snapshot
        self._stats.add(**deltas)

    def _read(self, stream: IO[bytes]) -> None:
        """Frames from the child into the handoff, counting its requests as they arrive; an end
        without a last frame is an error."""
        while True:
            head = stream.read(_HEADER.size)
            if len(head) < _HEADER.size:
                break
            kind, size = _HEADER.unpack(head)
            payload = stream.read(size)
            if len(payload) < size:
                break
            message_json, _, raw = payload.partition(b"\n")
            message = orjson.loads(message_json)
            if kind == _LOG:
                log.log(message["level"], "%s", message["text"])
                continue
            self._count(message["stats"])
            if not self._handoff.put((kind, message, raw)) or kind != _PAGE:
                return
        code = self._proc.wait()
        died = {
            "kind": errors.FetchProcessError.__name__,
            "args": [f"the fetch process died (exit code {code})"],
        }
        self._handoff.put((_ERROR, died, b""))


def _widen_pipe(stream: IO[bytes]) -> None:
    """A page (~80 KB) is more than a default pipe holds (64 KB): the child would stall on each
    one until the reader thread, which needs the GIL, drains it. Linux lets a pipe grow."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if set_size is None:
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(stream.fileno(), set_size, _PIPE_BYTES)


def _error_from(described: dict[str, Any]) -> MegaError:
    """The child's error as the same class of this package (its classes live under another
    module name there, so they are sent by name, arguments and fields)."""
    cls = getattr(errors, described["kind"], None)
    if not (isinstance(cls, type) and issubclass(cls, MegaError)):
        return MegaError(f"the fetch process failed: {described['args'][0]}")
    error = cls.__new__(cls)
    Exception.__init__(error, *described["args"])
    error.__dict__.update(described.get("fields", {}))
    return error


# --- the child


class _FrameWriter:
    """Frames: kind, length, then a JSON message, a newline and (pages only) the raw body."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def send(self, kind: bytes, message: dict[str, Any], raw: bytes = b"") -> None:
        encoded = orjson.dumps(message, default=str)
        self._stream.write(_HEADER.pack(kind, len(encoded) + 1 + len(raw)))
        self._stream.write(encoded)
        self._stream.write(b"\n")
        self._stream.write(raw)
        self._stream.flush()


class _ForwardLogs(logging.Handler):
    def __init__(self, frames: _FrameWriter) -> None:
        super().__init__()
        self._frames = frames

    def emit(self, record: logging.LogRecord) -> None:
        self._frames.send(_LOG, {"level": record.levelno, "text": record.getMessage()})


def child_main() -> int:
    frames = _FrameWriter(sys.stdout.buffer)
    sys.stdout = sys.stderr  # nothing but frames may reach the pipe
    logger = logging.getLogger("mega")
    logger.addHandler(_ForwardLogs(frames))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    task = sys.stdin.buffer.read()
    if not task:  # started ahead and not needed
        return 0
    spec: dict[str, Any] = orjson.loads(task)
    client = MegaClient.from_child_spec(spec)
    try:
        start = StartPosition(spec["cursor"], spec["updated_since"], cursor_saved=False)
        stream = PageStream(
            client, spec["params"], start, 0, first_number=spec["first_number"], raw_pages=True
        )
        for page in stream:
            message = {
                "number": page.number,
                "next_cursor": page.next_cursor,
                "stats": client.stats.snapshot(),
            }
            frames.send(_PAGE, message, page.raw or b"")
        frames.send(_DONE, {"stats": client.stats.snapshot()})
    except BrokenPipeError:  # the run stopped reading: it has what it needs, or it failed
        return 0
    except Exception as exc:
        with contextlib.suppress(BrokenPipeError):
            frames.send(
                _ERROR, _described(exc, spec["api_token"]) | {"stats": client.stats.snapshot()}
            )
        return 1
    finally:
        client.close()
    return 0


def _described(exc: Exception, token: str) -> dict[str, Any]:
    if isinstance(exc, MegaError):
        return {"kind": type(exc).__name__, "args": list(exc.args), "fields": dict(exc.__dict__)}
    text = errors.redact(errors.one_line(f"{type(exc).__name__}: {exc}"), [token])
    return {"kind": "MegaError", "args": [text]}


__all__ = [
    "ChildPageStream",
    "SweepStream",
    "child_main",
    "discard_fetch_process",
    "spawn_fetch_process",
]
