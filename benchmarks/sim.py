"""A simulator as a separate process (its own core and GIL), with its admin endpoints."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

PROJECT_DIR = Path(__file__).resolve().parent.parent
_URL = re.compile(r"(http://[0-9.]+:\d+)")


class SimulatorProcess:
    """``python -m simulators.mega serve`` on a free loopback port; always stopped on exit.
    ``module`` picks another simulator whose ``serve`` takes ``--port/--leads/--seed`` and prints
    its URL on the first line (``simulators.leads_v1``); ``extra_args`` go after those (its
    latency flag, for one, is spelled differently)."""

    def __init__(
        self,
        leads: int,
        seed: int = 0,
        latency_ms: float = 0.0,
        start_timeout_s: float = 600.0,
        log_path: Path | None = None,
        module: str = "simulators.mega",
        extra_args: Sequence[str] = (),
    ) -> None:
        self.leads = leads
        self.module = module
        self.extra_args = list(extra_args)
        self.seed = seed
        self.latency_ms = latency_ms
        self.start_timeout_s = start_timeout_s
        self.log_path = log_path
        self.url = ""
        self.ready_s = 0.0
        self._proc: subprocess.Popen[str] | None = None
        self._http: httpx.Client | None = None

    def start(self) -> SimulatorProcess:
        cmd = [
            sys.executable,
            "-m",
            self.module,
            "serve",
            "--port",
            "0",
            "--leads",
            str(self.leads),
            "--seed",
            str(self.seed),
        ]
        if self.latency_ms:
            cmd += ["--latency-ms", str(self.latency_ms)]
        cmd += self.extra_args
        stderr: Any = open(self.log_path, "a") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        started = time.perf_counter()
        self._proc = subprocess.Popen(
            cmd,
            cwd=PROJECT_DIR,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        line = self._first_line()
        match = _URL.search(line)
        if not match:
            self.stop()
            raise RuntimeError(f"simulator did not print its URL: {line!r}")
        self.url = match.group(1)
        self.ready_s = time.perf_counter() - started
        self._http = httpx.Client(base_url=self.url, timeout=60.0)
        stats = self.stats()
        if stats.get("leads") != self.leads:
            self.stop()
            raise RuntimeError(f"simulator serves {stats.get('leads')} leads, not {self.leads}")
        return self

    def _first_line(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        out: list[str] = []
        reader = threading.Thread(
            target=lambda: out.append(self._proc.stdout.readline()),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        reader.join(self.start_timeout_s)
        if not out:
            self.stop()
            raise RuntimeError(f"simulator not ready after {self.start_timeout_s:.0f} s")
        return out[0]

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc is not None else 0

    def stats(self) -> dict[str, Any]:
        assert self._http is not None
        response = self._http.get("/_sim/stats")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def requests_served(self) -> int:
        return int(self.stats()["requests_served"])

    def touch(self, n: int, seed: int) -> int:
        assert self._http is not None
        response = self._http.post("/_sim/touch", params={"n": n, "seed": seed})
        response.raise_for_status()
        return len(response.json()["ids"])

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
