"""A throwaway MariaDB server for tests: a new data directory in a temporary folder, the server on
a free loopback port with its own socket, stopped and deleted afterwards. Needs Debian's
`mariadb-server` package (`scripts/test` installs it); without it this fails loudly rather than
skipping.

The URL it yields is a dlt `sqlalchemy` credentials URL (``mysql+pymysql://…``). On MySQL a
schema is a database: dlt's dataset ``mega`` is the database ``mega`` on this server, whatever
database the URL names.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.postgres import free_port

USER = "loader"
PASSWORD = "loader-test"
DATABASE = "warehouse"
SYSTEM_USER = "mysql"  # mariadbd refuses to run as root unless told to
START_TIMEOUT = 60.0


def mariadb_bin() -> tuple[Path, Path]:
    """``mariadb-install-db`` and ``mariadbd``, where Debian puts them."""
    install = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
    server = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    if not (os.access(install, os.X_OK) and os.access(server, os.X_OK)):
        raise RuntimeError(
            "MariaDB is not installed: `apt-get install mariadb-server` (scripts/test does it)"
        )
    return Path(install), Path(server)


def _demote() -> None:
    account = pwd.getpwnam(SYSTEM_USER)
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)


def _as_mysql() -> Callable[[], None] | None:
    """Run a command as the `mysql` account when the tests run as root."""
    return _demote if os.getuid() == 0 else None


def _server_options(root: Path, port: int) -> list[str]:
    return [
        "--no-defaults",
        f"--datadir={root / 'data'}",
        f"--socket={root / 'mysqld.sock'}",
        f"--pid-file={root / 'mysqld.pid'}",
        f"--log-error={root / 'error.log'}",
        f"--tmpdir={root}",
        "--bind-address=127.0.0.1",
        f"--port={port}",
        "--skip-name-resolve",
        "--skip-log-bin",
        # Throwaway data: no durability, small buffers, quick start and stop.
        "--innodb-flush-log-at-trx-commit=0",
        "--innodb-doublewrite=0",
        "--innodb-buffer-pool-size=64M",
        "--innodb-log-file-size=16M",
        "--sync-binlog=0",
        "--performance-schema=OFF",
        # What Debian's packaged server is configured with (the built-in default is latin1).
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_general_ci",
        # Not UTC on purpose: nothing the connector writes or reads may depend on the server's
        # time zone (DATETIME holds none; dlt writes UTC).
        "--default-time-zone=+05:30",
        "--max-allowed-packet=64M",
    ]


@contextmanager
def mariadb_server() -> Iterator[str]:
    """Yield a dlt sqlalchemy credentials URL of a fresh server (a user with every privilege,
    an empty database); the server and its files are gone afterwards."""
    install_db, mariadbd = mariadb_bin()
    root = Path(tempfile.mkdtemp(prefix="mariadb-test-"))
    if os.getuid() == 0:
        shutil.chown(root, SYSTEM_USER, SYSTEM_USER)
    port = free_port()
    options = _server_options(root, port)
    process: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [
                str(install_db),
                *options[:2],  # --no-defaults must come first
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            check=True,
            capture_output=True,
            timeout=120,
            preexec_fn=_as_mysql(),
        )
        bootstrap = root / "init.sql"
        bootstrap.write_text(
            f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';\n"
            f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'127.0.0.1' WITH GRANT OPTION;\n"
            f"CREATE DATABASE {DATABASE};\n"
        )
        if os.getuid() == 0:
            shutil.chown(bootstrap, SYSTEM_USER, SYSTEM_USER)
        process = subprocess.Popen(
            [str(mariadbd), *options, f"--init-file={bootstrap}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_as_mysql(),
        )
        _wait_until_up(process, root, port)
        yield f"mysql+pymysql://{USER}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}"
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_up(process: subprocess.Popen[bytes], root: Path, port: int) -> None:
    """Until the bootstrap user can log in over TCP (the init file has run by then)."""
    import pymysql

    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"mariadbd exited ({process.returncode}): {_log_tail(root)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
            pymysql.connect(
                host="127.0.0.1", port=port, user=USER, password=PASSWORD, database=DATABASE
            ).close()
            return
        except (OSError, pymysql.err.MySQLError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"mariadbd did not start: {_log_tail(root)}") from None
            time.sleep(0.1)


def _log_tail(root: Path) -> str:
    log = root / "error.log"
    return log.read_text(errors="replace")[-2000:] if log.exists() else "(no error log)"


def drop_databases(url: str, keep: str = DATABASE) -> None:
    """Drop every user database but ``keep``: a test's dataset (and dlt's staging dataset) go,
    so the next test starts on an empty server."""
    import pymysql
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    connection = pymysql.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        autocommit=True,
    )
    system = {"information_schema", "mysql", "performance_schema", "sys", keep}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW DATABASES")
            for (name,) in cursor.fetchall():
                if name not in system:
                    cursor.execute(f"DROP DATABASE `{name}`")
    finally:
        connection.close()
