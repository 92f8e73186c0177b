"""A throwaway PostgreSQL server for tests and benchmarks: a new cluster in a temporary folder,
on a free loopback port, stopped and deleted afterwards. Needs Debian's `postgresql` package
(`scripts/test` installs it); without it this fails loudly rather than skipping."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

USER = "postgres"  # initdb and the server refuse to run as root
PASSWORD = "loader-test"
DATABASE = "warehouse"


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed: `apt-get install postgresql` (scripts/test does it)"
        )
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_postgres(*command: str | Path) -> None:
    account = pwd.getpwnam(USER)

    def demote() -> None:
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)

    subprocess.run(
        [str(part) for part in command],
        check=True,
        capture_output=True,
        preexec_fn=demote if os.getuid() == 0 else None,
        timeout=120,
    )


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a dlt credentials URL of a fresh database; the cluster is gone afterwards."""
    binaries = postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="pg-test-"))
    data = root / "data"
    if os.getuid() == 0:
        shutil.chown(root, USER, USER)
    password_file = root / "password"
    password_file.write_text(PASSWORD)
    if os.getuid() == 0:
        shutil.chown(password_file, USER, USER)
    port = free_port()
    _as_postgres(
        binaries / "initdb",
        "-D",
        data,
        "-U",
        USER,
        "--auth=scram-sha-256",
        f"--pwfile={password_file}",
        "-E",
        "UTF8",
        "--no-sync",
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    _as_postgres(binaries / "pg_ctl", "-D", data, "-o", options, "-w", "-l", root / "log", "start")
    try:
        url = f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}"
        _create_database(url)
        yield f"{url}/{DATABASE}"
    finally:
        _as_postgres(binaries / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _create_database(url: str) -> None:
    import psycopg2

    connection = psycopg2.connect(f"{url}/postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {DATABASE}")
    connection.close()
