"""The settings a user exports for several accounts of one simulator (README: Many accounts)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from typing import Any


def accounts_env(
    sim: Any, names: Iterable[str], section: str, tenant: str | None = None, kind: str = "sources"
) -> dict[str, str]:
    """``SOURCES__<SECTION>__BASE_URL`` once, and each account's own settings under
    ``SOURCES__<SECTION>__ACCOUNTS__<NAME>__``; ``tenant``: the setting that names the account's
    tenant where the simulator's settings do not carry it (Leads v1's ``organization_id``);
    ``kind``: ``destination`` for a push target's (``DESTINATION__<TARGET>__…``)."""
    prefix = f"{kind.upper()}__{section.upper()}__"
    env = {prefix + "BASE_URL": sim.url}
    for name in names:
        own = {k: v for k, v in sim.account_settings(name).items() if k != "base_url"}
        if tenant is not None:
            own[tenant] = sim.account(name).tenant_id
        for key, value in own.items():
            env[f"{prefix}ACCOUNTS__{name.upper()}__{key.upper()}"] = value
    return env


_databases = itertools.count(1)


def fresh_database(cluster_url: str) -> str:
    """A new database on the server of ``cluster_url`` (a PostgreSQL URL): its URL."""
    import psycopg2

    server, _, _ = cluster_url.rpartition("/")
    name = f"warehouse_{os.getpid()}_{next(_databases)}"
    connection = psycopg2.connect(cluster_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    connection.close()
    return f"{server}/{name}"


class AccountsWarehouse:
    """A PostgreSQL database several MEGA accounts of ``sim`` load: what it holds per account."""

    def __init__(self, sim: Any, url: str) -> None:
        self.sim = sim
        self.url = url

    def loaded(self) -> dict[str, dict[str, str]]:
        """customer_id -> {lead id: updated_at} of the live leads loaded (a duplicate fails)."""
        import psycopg2

        with psycopg2.connect(self.url) as connection, connection.cursor() as cursor:
            cursor.execute(
                "SELECT customer_id, id, to_char(updated_at AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD\"T\"HH24:MI:SS.MS') FROM mega.leads WHERE _deleted_at IS NULL"
            )
            rows = cursor.fetchall()
        found: dict[str, dict[str, str]] = {}
        for customer, lead_id, updated_at in rows:
            assert lead_id not in found.setdefault(customer, {}), lead_id
            found[customer][lead_id] = updated_at
        return found

    def truth(self, names: Iterable[str]) -> dict[str, dict[str, str]]:
        """The same of the simulator's accounts ``names``."""
        return {
            self.sim.account(name).tenant_id: {
                lead["id"]: lead["updated_at"][:23] for lead in self.sim.store_of(name).snapshot()
            }
            for name in names
        }
