"""A wall-clock sampling profiler for every thread (cProfile only sees the main thread).

Every ``interval_s`` it records each thread's stack; the report gives, per thread, the share of
samples in which a function was on the stack (inclusive) and at the top (self). Threads waiting
for the GIL or a lock are sampled too, so shares are of wall time, not CPU time.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType


def _label(frame: FrameType) -> str:
    code = frame.f_code
    path = code.co_filename
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{code.co_name}"


class Sampler:
    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.samples: Counter[str] = Counter()
        self.inclusive: dict[str, Counter[str]] = {}
        self.self_time: dict[str, Counter[str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        own = threading.get_ident()
        while not self._stop.is_set():
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == own:
                    continue
                name = names.get(ident, "?")
                name = name.split("_", 1)[0] if name.startswith("ThreadPoolExecutor") else name
                self.samples[name] += 1
                self.self_time.setdefault(name, Counter())[_label(frame)] += 1
                seen: set[str] = set()
                current: FrameType | None = frame
                while current is not None:
                    label = _label(current)
                    if label not in seen:
                        seen.add(label)
                        self.inclusive.setdefault(name, Counter())[label] += 1
                    current = current.f_back
            time.sleep(self.interval_s)

    def report(self, top: int = 30) -> str:
        lines = []
        for name, total in self.samples.most_common():
            lines.append(f"== thread {name}: {total} samples (~{total * self.interval_s:.1f} s)")
            lines.append("  inclusive:")
            for label, count in self.inclusive[name].most_common(top):
                lines.append(f"    {100 * count / total:5.1f}%  {label}")
            lines.append("  self (top of stack):")
            for label, count in self.self_time[name].most_common(top // 2):
                lines.append(f"    {100 * count / total:5.1f}%  {label}")
        return "\n".join(lines)

    def write(self, path: str) -> None:
        Path(path).write_text(self.report() + "\n")
