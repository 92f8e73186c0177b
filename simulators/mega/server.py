"""``SimulatorServer``: the MEGA API on the core server (``simulators.core.server``), with a
generated lead store and MEGA's ``/_sim/`` admin endpoints (touch, snapshot, lead stats)."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from simulators.core.accounts import Account, Accounts
from simulators.core.http import is_loopback
from simulators.core.messages import Response
from simulators.core.ratelimit import RateLimiter
from simulators.core.source import SourceServer

from .api import Api
from .auth import TokenInfo, account_grant, normalize_tokens
from .clock import Clock, SystemClock
from .data import DEFAULT_CUSTOMER_ID, generate_leads
from .errors import bad_request
from .faults import LEADS_PATH, FaultPlan
from .loaded import custom_field_rows
from .query import MAX_LIMIT
from .store import LeadStore

__all__ = ["SimulatorServer", "is_loopback"]

_FREEZE_GC_AT = 100_000


class SimulatorServer(SourceServer):
    """A local MEGA Public CRM Lead API. ``with SimulatorServer(n_leads=500) as sim: sim.url``.

    ``tokens`` maps token -> ``{"customer_id": ..., "scopes": [...]}`` (default: DEFAULT_TOKEN
    for DEFAULT_CUSTOMER_ID with read + write). Leads are generated for the first token's
    customer unless a ``store`` is given.

    ``accounts`` (instead of ``store``/``n_leads``/``tokens``): several customers, each with
    its own token, generated leads, rate-limit budget (``rate_limit`` per account) and faults;
    see ``simulators.mega.account`` and :meth:`account_settings`.
    """

    server_version = "MEGA-Simulator/1.0"
    thread_name = "mega-simulator"
    list_path = LEADS_PATH
    items_key = "leads"
    page_size = MAX_LIMIT
    api: Api

    def __init__(
        self,
        store: LeadStore | None = None,
        n_leads: int = 0,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Mapping[str, Any] | None = None,
        rate_limit: int | None = None,
        rate_window_s: float = 60,
        latency_ms: float = 0,
        clock: Clock | None = None,
        accounts: Iterable[Account] | None = None,
    ) -> None:
        if not is_loopback(host):  # before generating leads, which may take seconds
            raise ValueError(f"refusing to bind non-loopback host {host!r}")
        self.faults = FaultPlan()
        self.limiter = RateLimiter(rate_limit, rate_window_s)
        clock = clock or SystemClock()
        table: Accounts | None = None
        if accounts is not None:
            table = Accounts.serving(
                accounts,
                rate_limit,
                rate_window_s,
                FaultPlan,
                store=store,
                tokens=tokens,
                n_leads=n_leads,
            )
            self.tokens: Mapping[str, TokenInfo] = table.grants(account_grant)
            stores = [_seeded(clock, a.tenant_id, a.n_leads, a.seed) for a in table]
        else:
            self.tokens = normalize_tokens(tokens)
            if store is None:
                first = next(iter(self.tokens.values())).customer_id
                store = _seeded(clock, first if tokens else DEFAULT_CUSTOMER_ID, n_leads, seed)
            stores = [store]
        if sum(a.n_leads for a in table or ()) + (0 if table else n_leads) >= _FREEZE_GC_AT:
            # Park the dataset outside the cyclic GC: full collections would otherwise
            # walk millions of dicts and stall serving for hundreds of milliseconds.
            gc.freeze()
        self.store = stores[0]
        self.api = Api(
            self.store,
            self.tokens,
            self.limiter,
            self.faults,
            latency_ms / 1000,
            accounts=table,
            stores=stores[1:],
        )
        super().__init__(host, port)

    def settings_of(self, account: Account) -> dict[str, str]:
        """What ``pipelines.registry`` gives a MEGA run: base_url, api_token, customer_id."""
        return {"base_url": self.url, "api_token": account.token, "customer_id": account.tenant_id}

    @property
    def clock(self) -> Clock:
        return self.store.clock

    # ----- SourceServer ----------------------------------------------------------------------

    @classmethod
    def sample(cls, n_leads: int, seed: int = 0, clock: Clock | None = None) -> SimulatorServer:
        return cls(n_leads=n_leads, seed=seed, clock=clock)

    def run_settings(self) -> dict[str, str]:
        token, grant = next(iter(self.tokens.items()))
        return {"base_url": self.url, "api_token": token, "customer_id": grant.customer_id}

    def leads(self) -> list[dict[str, Any]]:
        return self.store.snapshot()

    def list_order(self) -> list[str]:
        """The sweep's keyset order: (updated_at, id)."""
        return [lead["id"] for lead in sorted(self.leads(), key=_keyset)]

    def child_rows(self) -> dict[str, list[dict[str, Any]]]:
        return {"leads__custom_fields": custom_field_rows(self.leads())}

    def store_for(self, customer_id: str) -> LeadStore:
        return self.api.store_for(customer_id)

    def stats(self) -> dict[str, Any]:
        return {"leads": len(self.store), **super().stats(), "version": self.store.version}

    def store_of(self, name: str) -> LeadStore:
        """The lead store of account ``name``."""
        return self.store_for(self.account(name).tenant_id)

    def admin(self, method: str, path: str, query: dict[str, str]) -> Response | None:
        if method == "POST" and path == "/_sim/touch":
            try:
                ids = self.store.touch(int(query.get("n", "1")), int(query.get("seed", "0")))
            except ValueError:  # not integers, or a negative n
                raise bad_request("n and seed must be integers.") from None
            return Response(200, orjson.dumps({"ids": ids, "version": self.store.version}))
        if method == "GET" and path == "/_sim/snapshot":
            return Response(200, orjson.dumps(self.store.snapshot()))
        return None


def _keyset(lead: dict[str, Any]) -> tuple[str, str]:
    return lead["updated_at"], lead["id"]


def _seeded(clock: Clock, customer_id: str, n_leads: int, seed: int) -> LeadStore:
    store = LeadStore(clock, customer_id)
    if n_leads:
        store.add_many(generate_leads(n_leads, seed, customer_id=customer_id))
    return store
