"""The secret the ledger's hashes are keyed with (HMAC), so that the ledger file alone reveals
nothing: unkeyed hashes of an email or a name are reversed by hashing a list of likely ones.

It is the secret setting ``push.ledger_key`` (``PUSH__LEDGER_KEY``) when set, else the file
``push_ledger.key`` in the settings folder, beside ``secrets.toml``, made once (mode 0600) by
the first push. Losing it costs one thing: every row then looks changed to the next push.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

import dlt

from sources.core.errors import ConfigurationError

KEY_FILE = "push_ledger.key"
SETTING = "push.ledger_key"


def ledger_secret(folder: Path) -> bytes:
    configured = dlt.secrets.get(SETTING, str)
    if configured:
        return str(configured).encode()
    path = folder / KEY_FILE
    if not path.exists():
        _create(path)
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"the push ledger's key {path} cannot be read: {exc}") from None
    if len(key) < 32:
        raise ConfigurationError(
            f"the push ledger's key {path} is too short: remove it to make a new one (every row "
            "then looks changed once), or set PUSH__LEDGER_KEY"
        )
    return key.encode()


def _create(path: Path) -> None:
    """Written whole under a temporary name, then linked in: two pushes starting together both
    end up with the one that was linked first."""
    try:
        with tempfile.NamedTemporaryFile(
            "w", dir=path.parent, delete=False, suffix=".tmp"
        ) as handle:
            os.chmod(handle.name, 0o600)
            handle.write(secrets.token_hex(32) + "\n")
        try:
            os.link(handle.name, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(handle.name)
    except OSError as exc:
        raise ConfigurationError(
            f"the push ledger's key cannot be made in {path.parent} ({exc.strerror}); "
            "set PUSH__LEDGER_KEY to a long random text instead"
        ) from None
