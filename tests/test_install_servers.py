"""scripts/install-servers (called by the README's test command) leaves the machine as it found
it: only the missing packages, nothing upgraded, no service started or enabled, apt's output off
stdout. apt-get and the service tools are stand-ins on PATH that record how they were called."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers import PROJECT

SCRIPT = PROJECT / "scripts" / "install-servers"
RECORDER = """#!/bin/sh
echo "$(basename "$0") $* policy=$([ -x "$POLICY_RC_D" ] && "$POLICY_RC_D"; echo $?)" >> "$CALLS"
echo "progress of $(basename "$0")"
"""


def _run(tmp_path: Path, root: Path) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("apt-get", "deb-systemd-helper", "update-rc.d"):
        (bin_dir / tool).write_text(RECORDER)
        (bin_dir / tool).chmod(0o755)
    calls = tmp_path / "calls"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "INSTALL_ROOT": str(root),
        "POLICY_RC_D": str(tmp_path / "policy-rc.d"),
        "CALLS": str(calls),
    }
    done = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )
    return done, calls.read_text().splitlines() if calls.exists() else []


def test_missing_servers_are_installed_without_upgrades_starts_or_boot_entries(
    tmp_path: Path,
) -> None:
    done, calls = _run(tmp_path, tmp_path / "empty-root")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # apt's progress on stderr
    install = next(call for call in calls if call.startswith("apt-get install"))
    assert "--no-upgrade" in install and "--no-install-recommends" in install
    assert "postgresql" in install and "mariadb-server" in install
    # While packages install, the policy denies every service start (101).
    assert install.endswith("policy=101")
    disabled = [call.split(" policy=")[0] for call in calls if "disable" in call]
    assert disabled == [
        "deb-systemd-helper disable postgresql.service",
        "update-rc.d postgresql disable",
        "deb-systemd-helper disable mariadb.service",
        "update-rc.d mariadb disable",
    ]
    assert not (tmp_path / "policy-rc.d").exists()  # removed after the install


def test_nothing_is_installed_when_the_servers_are_there(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for binary in (
        "usr/lib/postgresql/15/bin/pg_ctl",
        "usr/sbin/mariadbd",
        "usr/bin/mariadb-install-db",
    ):
        (root / binary).parent.mkdir(parents=True, exist_ok=True)
        (root / binary).write_text("#!/bin/sh\n")
        (root / binary).chmod(0o755)
    done, calls = _run(tmp_path, root)
    assert done.returncode == 0, done.stderr
    assert calls == [] and done.stdout == "" and done.stderr == ""
