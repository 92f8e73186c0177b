"""A long sweep's pages fetched by a child process (``sweep_stream.py`` decides when).

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

The child imports only the HTTP and paging modules (not dlt: every package of this project is a
bare one there, its ``__init__`` not run), the token reaches it on stdin (never argv or the
environment), and whatever goes wrong there comes back as the same typed error. The endpoint's
``Keyset`` and the client's class cross as data (``Keyset.wire``, a class reference).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: pipes keep their default size
    fcntl = None  # type: ignore[assignment]

import orjson

from sources.core import errors
from sources.core.endpoint import Keyset
from sources.core.errors import ConnectorError
from sources.core.http import json_object

from .handoff import Handoff
from .paging import Page, PageStream, StartPosition, parse_page

log = logging.getLogger("crm_leads.core")

_HEADER = struct.Struct("!cI")  # frame kind, payload length
_PAGE, _LOG, _ERROR, _DONE = b"P", b"L", b"E", b"D"
_PIPE_BYTES = 1 << 20  # Linux's default cap for an unprivileged process (fs.pipe-max-size)
# Run in the child: this project's packages as bare ones (argv[1]: names and folders), so that
# importing the HTTP modules does not run a package's __init__ (an API package's imports dlt,
# slow to import). httpx imports its command-line client (click, rich) when it can; the child
# has no use for it.
_BOOTSTRAP = (
    "import json, sys, types\n"
    "for name, path in json.loads(sys.argv[1]):\n"
    "    sys.modules[name] = types.ModuleType(name); sys.modules[name].__path__ = path\n"
    "sys.modules['httpx._main'] = None\n"
    f"from {__name__} import child_main\n"
    "sys.exit(child_main())"
)


def _bare_packages() -> list[tuple[str, list[str]]]:
    """Every package of this project's top-level package, with its folder."""
    top = __name__.split(".")[0]
    root = os.path.dirname(os.path.abspath(sys.modules[top].__file__ or ""))
    found = []
    for folder, _, files in os.walk(root):
        if "__init__.py" in files:
            relative = os.path.relpath(folder, os.path.dirname(root))
            found.append((relative.replace(os.sep, "."), [folder]))
    return found


def spawn_fetch_process() -> subprocess.Popen[bytes]:
    """A fetch process, started: it imports, then waits for its task on stdin. Starting one
    while the run sets up hides its start-up; ``discard_fetch_process`` if it is not needed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _BOOTSTRAP, orjson.dumps(_bare_packages()).decode()],
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


class ChildPageStream:
    """Pages fetched by a child process (see the module docstring), decoded here in order."""

    def __init__(
        self,
        keyset: Keyset,
        client: Any,
        params: Mapping[str, str],
        start: StartPosition,
        buffer_pages: int,
        first_number: int,
        spawned: subprocess.Popen[bytes] | None = None,
        interrupt: threading.Event | None = None,
    ) -> None:
        self._keyset = keyset
        self._stats = client.stats
        self._counted: dict[str, float] = {}
        self._handoff = Handoff(buffer_pages, interrupt)
        self._proc = spawned if spawned is not None else spawn_fetch_process()
        assert self._proc.stdin is not None and self._proc.stdout is not None
        client_class = type(client)
        spec = client.child_spec() | {
            "client": f"{client_class.__module__}:{client_class.__qualname__}",
            "keyset": keyset.wire(),
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
        self._closed = threading.Event()
        if interrupt is not None:
            threading.Thread(
                target=self._end_on_interrupt,
                args=(interrupt,),
                name="mega-child-stop",
                daemon=True,
            ).start()

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
        page = parse_page(self._keyset, json_object(raw, where), number, where)
        if page.next_cursor != message["next_cursor"]:
            self._finished = True
            raise errors.FetchProcessError(
                f"{where}: the fetch process read `{self._keyset.cursor_field}` "
                f"{message['next_cursor']!r:.40} where the page has {page.next_cursor!r:.40}"
            )
        return page

    def ready(self) -> bool:
        return self._finished or self._handoff.ready()

    def close(self) -> None:
        self._closed.set()
        # Ended first: the reader thread may be blocked reading the child's pipe.
        if self._proc.poll() is None:
            self._proc.terminate()
        self._handoff.stop([self._reader])
        discard_fetch_process(self._proc)

    def _end_on_interrupt(self, interrupt: threading.Event) -> None:
        """Ctrl-C or SIGTERM (to the group or to this process alone: the child has its own
        session) ends the child at once, not when the sweep closes: the run first commits what
        it received, and meanwhile the child would fetch on, as far as the buffer and pipe hold."""
        while not self._closed.is_set():
            if interrupt.wait(0.05):  # polled: the stream's close must end this thread too
                if self._proc.poll() is None:
                    self._proc.terminate()
                return

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


def _error_from(described: dict[str, Any]) -> ConnectorError:
    """The child's error as the same class of this package (its classes live under another
    module name there, so they are sent by name, arguments and fields)."""
    cls = getattr(errors, described["kind"], None)
    if not (isinstance(cls, type) and issubclass(cls, ConnectorError)):
        return ConnectorError(f"the fetch process failed: {described['args'][0]}")
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
    logger = logging.getLogger("crm_leads")
    logger.addHandler(_ForwardLogs(frames))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    task = sys.stdin.buffer.read()
    if not task:  # started ahead and not needed
        return 0
    spec: dict[str, Any] = orjson.loads(task)
    module, _, class_name = spec["client"].partition(":")
    client = getattr(importlib.import_module(module), class_name).from_child_spec(spec)
    try:
        keyset = Keyset.from_wire(spec["keyset"])
        start = StartPosition(spec["cursor"], spec["updated_since"], cursor_saved=False)
        stream = PageStream(
            keyset, client, spec["params"], start, 0, spec["first_number"], raw_pages=True
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
    if isinstance(exc, ConnectorError):
        return {"kind": type(exc).__name__, "args": list(exc.args), "fields": dict(exc.__dict__)}
    text = errors.redact(errors.one_line(f"{type(exc).__name__}: {exc}"), [token])
    return {"kind": "ConnectorError", "args": [text]}


__all__ = [
    "ChildPageStream",
    "child_main",
    "discard_fetch_process",
    "spawn_fetch_process",
]
