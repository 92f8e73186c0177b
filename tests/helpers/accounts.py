"""The settings a user exports for several accounts of one simulator (README: Many accounts)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def accounts_env(
    sim: Any, names: Iterable[str], section: str, tenant: str | None = None
) -> dict[str, str]:
    """``SOURCES__<SECTION>__BASE_URL`` once, and each account's own settings under
    ``SOURCES__<SECTION>__ACCOUNTS__<NAME>__``; ``tenant``: the setting that names the account's
    tenant where the simulator's settings do not carry it (Leads v1's ``organization_id``)."""
    prefix = f"SOURCES__{section.upper()}__"
    env = {prefix + "BASE_URL": sim.url}
    for name in names:
        own = {k: v for k, v in sim.account_settings(name).items() if k != "base_url"}
        if tenant is not None:
            own[tenant] = sim.account(name).tenant_id
        for key, value in own.items():
            env[f"{prefix}ACCOUNTS__{name.upper()}__{key.upper()}"] = value
    return env
