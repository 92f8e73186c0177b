"""The API token never leaks, and plain http:// is refused except on loopback.

Runs use a known token (successful and failing runs, in-process and through the CLI); then every
file the runs wrote (raw bytes, gzip, parquet, DuckDB tables, compressed dlt state, the pickled
trace), every log record and everything printed is searched for it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import pickle
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from dlt.common.versioned_state import decompress_state

from pipelines.result import RunFailed, RunResult
from simulators.core import faults
from simulators.mega import DEFAULT_CUSTOMER_ID, ManualClock, SimulatorServer
from sources.core.errors import ConfigurationError, ConnectorError
from sources.mega.client import check_base_url
from tests.helpers import (
    PROJECT,
    Warehouse,
    assert_matches_source,
    cli,
    cli_env,
    make_sim,
    one_line_error,
)

TOKEN = "mega_" + hashlib.sha256(b"connector security test token").hexdigest()
WRONG_TOKEN = "mega_" + hashlib.sha256(b"a token the API does not know").hexdigest()
SECRETS = (TOKEN, WRONG_TOKEN)


def leaks(text: str | bytes) -> list[str]:
    """Which secrets (or their 64-hex bodies) occur in ``text``."""
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    found = []
    for secret in SECRETS:
        body = secret.removeprefix("mega_")
        if secret.encode() in data or body.encode() in data:
            found.append(secret[:9] + "…")
    return found


def duckdb_text(path: Path) -> str:
    """Every row of every table in the DuckDB file, and the dlt state it stores, as text."""
    out: list[str] = []
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.sql(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
        for schema, table in tables:
            rows = con.sql(f'SELECT * FROM "{schema}"."{table}"').fetchall()
            out.append(repr(rows))
            if table == "_dlt_pipeline_state":
                states = con.sql(f'SELECT state FROM "{schema}"."{table}"').fetchall()
                out += [json.dumps(decompress_state(row[0])) for row in states]
    return "\n".join(out)


def file_texts(root: Path) -> Iterator[tuple[Path, str | bytes]]:
    """Each file under ``root`` as bytes, plus decoded forms of the compressed/binary ones."""
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        raw = path.read_bytes()
        yield path, raw
        if path.suffix == ".gz":
            yield path, gzip.decompress(raw)
        elif path.suffix == ".parquet":
            yield path, repr(pq.read_table(path).to_pylist())
        elif path.suffix == ".duckdb":
            yield path, duckdb_text(path)
        elif path.suffix == ".pickle":
            with path.open("rb") as handle:
                trace = pickle.load(handle)
            yield path, repr(trace) + str(trace)
            if hasattr(trace, "asdict"):
                yield path, json.dumps(trace.asdict(), default=str)


def assert_no_leak_in_files(root: Path) -> int:
    checked = 0
    for path, text in file_texts(root):
        checked += 1
        assert leaks(text) == [], f"secret in {path.relative_to(root)}"
    return checked


def assert_no_leak_in_result(result: RunResult) -> None:
    for text in (repr(result), json.dumps(result.as_dict(), default=str), result.summary()):
        assert leaks(text) == []
    assert leaks(json.dumps(result.manifest_row(), default=str)) == []


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    """Every log record of every logger, at DEBUG, with its traceback."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    names = ["", "dlt", "crm_leads", "httpx", "httpcore"]
    saved = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    dlt_logger = logging.getLogger("dlt")
    if not dlt_logger.propagate:
        dlt_logger.addHandler(handler)
    try:
        yield buffer
    finally:
        logging.getLogger().removeHandler(handler)
        dlt_logger.removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
def secure_sim(clock: ManualClock) -> Iterator[SimulatorServer]:
    with make_sim(clock, 250, tokens={TOKEN: {"customer_id": DEFAULT_CUSTOMER_ID}}) as server:
        yield server


ECHO = f"upstream rejected Authorization: Bearer {TOKEN}"

# Failing runs: the API or the network misbehaves, some answers echo the token back.
FAILURES = [
    (faults.status(500, message=ECHO), None),
    (faults.status(401, message=ECHO), 1),
    (faults.html_200(), 1),
    (faults.drop(), None),
]


def test_token_never_leaks_in_process(
    tmp_path: Path,
    secure_sim: SimulatorServer,
    log_text: io.StringIO,
    capsys: pytest.CaptureFixture[str],
) -> None:
    warehouse = Warehouse(tmp_path, secure_sim)
    texts: list[str] = []

    result = warehouse.run(api_token=TOKEN, checkpoint_pages=1)
    assert_no_leak_in_result(result)
    assert_matches_source(warehouse, secure_sim)

    secure_sim.store.touch(120, seed=5)
    for fault, times in FAILURES:
        secure_sim.faults.clear()
        secure_sim.faults.add(fault, times=times, after=0)
        with pytest.raises(RunFailed) as failed:
            warehouse.run(api_token=TOKEN, checkpoint_pages=1, lookback="1m")
        texts += [str(failed.value), repr(failed.value), one_line_error(failed.value)]
        assert_no_leak_in_result(failed.value.result)
    assert any("***" in text for text in texts)  # the echoed token was redacted, not dropped

    secure_sim.faults.clear()
    with pytest.raises(RunFailed) as refused:
        warehouse.run(api_token=WRONG_TOKEN)
    texts.append(str(refused.value))
    assert "authentication failed" in str(refused.value)

    final = warehouse.run(api_token=TOKEN, reconcile=True, lookback="1m")
    assert_no_leak_in_result(final)
    assert_matches_source(warehouse, secure_sim)

    printed = capsys.readouterr()
    texts += [printed.out, printed.err, log_text.getvalue()]
    assert "retry" in log_text.getvalue()  # the logs were captured
    for text in texts:
        assert leaks(text) == []
    assert assert_no_leak_in_files(tmp_path) > 20


def test_token_never_leaks_from_the_cli(tmp_path: Path, secure_sim: SimulatorServer) -> None:
    env = cli_env(secure_sim, tmp_path, token=TOKEN)
    outputs: list[str] = []

    ok = subprocess.run(
        cli("--checkpoint-pages", "1"), env=env, cwd=PROJECT, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    outputs += [ok.stdout, ok.stderr]

    secure_sim.store.touch(150, seed=9)
    secure_sim.faults.add(faults.status(503, message=ECHO), times=None, after=1)
    failed = subprocess.run(
        cli("--checkpoint-pages", "1", "--lookback", "5m", "--reconcile"),
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
    )
    assert failed.returncode != 0
    assert "mega-leads: error:" in failed.stderr
    assert "***" in failed.stderr
    outputs += [failed.stdout, failed.stderr]

    for text in outputs:
        assert leaks(text) == []
    assert assert_no_leak_in_files(tmp_path) > 20


# ----- plain http:// ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com",
        "http://app.gomega.ai/",
        "http://10.1.2.3:8080",
        "http://127.0.0.1.nip.io",
        "http://localhost.example.com",
        "ftp://127.0.0.1",
        "app.gomega.ai",
    ],
)
def test_plain_http_or_non_http_base_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        check_base_url(url)
    assert "SOURCES__MEGA__BASE_URL" in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://app.gomega.ai",
        "https://app.gomega.ai/",
        "http://127.0.0.1:8123",
        "http://localhost:8123",
        "http://[::1]:8123",
    ],
)
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    assert check_base_url(url) == url.rstrip("/")


def test_run_refuses_plain_http_before_sending_anything(
    tmp_path: Path, sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were the URL not refused, these would keep a connection attempt short.
    monkeypatch.setenv("SOURCES__MEGA__CONNECT_TIMEOUT", "0.2")
    monkeypatch.setenv("SOURCES__MEGA__MAX_RETRIES", "0")
    warehouse = Warehouse(tmp_path, sim)

    with pytest.raises(ConnectorError) as refused:
        warehouse.run(base_url="http://192.0.2.10:8080", api_token=TOKEN)

    message = one_line_error(refused.value)
    assert "http://" in message and "https://" in message
    assert leaks(message) == []
    assert warehouse.leads() == {}
    assert sim.requests == []


def test_cli_refuses_plain_http(tmp_path: Path, sim: SimulatorServer) -> None:
    env = cli_env(sim, tmp_path, token=TOKEN)
    env.update(SOURCES__MEGA__BASE_URL="http://192.0.2.10", SOURCES__MEGA__CONNECT_TIMEOUT="0.2")

    proc = subprocess.run(cli("-q"), env=env, cwd=PROJECT, capture_output=True, text=True)

    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("mega-leads: error:")]
    assert len(errors) == 1 and "https://" in errors[0]
    assert leaks(proc.stdout + proc.stderr) == []
    assert sim.requests == []
