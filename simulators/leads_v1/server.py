"""``LeadsV1Server``: the Leads v1 API on the core server (``simulators.core.server``), with a
generated store and a few ``/_sim/`` admin endpoints for a simulator run from the CLI."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from simulators.core.accounts import Account, Accounts
from simulators.core.http import is_loopback
from simulators.core.messages import Response
from simulators.core.ratelimit import RateLimiter
from simulators.core.source import SourceServer

from .api import Api
from .auth import normalize_tokens
from .clock import Clock, SystemClock
from .data import generate_leads
from .errors import invalid_request, not_found
from .faults import FaultPlan
from .query import MAX_LIMIT
from .schema import DEFAULT_ORGANIZATION_ID, LEADS_PATH, OTHER_ORGANIZATION_ID
from .store import LeadsV1Store

# Leads of OTHER_ORGANIZATION_ID in every generated store: scoping is then always testable.
OTHER_ORG_LEADS = 5
_DELETE = re.compile(r"^/_sim/leads/([^/]+)/delete$")


class LeadsV1Server(SourceServer):
    """A local Leads v1 API: ``with LeadsV1Server(n_leads=500) as sim: sim.url``.

    ``tokens`` maps token -> organization id (default: DEFAULT_TOKEN for
    DEFAULT_ORGANIZATION_ID). Without a ``store``, ``n_leads`` leads of DEFAULT_ORGANIZATION_ID
    (plus a few of OTHER_ORGANIZATION_ID) are generated before ``clock``'s now; with one, the
    store's clock is used and ``clock``/``n_leads``/``seed`` are ignored. ``latency_s`` is
    slept by each request's own thread, so concurrent requests overlap.

    ``accounts`` (instead of ``store``/``n_leads``/``tokens``): several organizations, each
    with its own token, generated leads, rate-limit budget (``rate_limit`` per account) and
    faults; see ``simulators.leads_v1.account`` and :meth:`account_settings`.
    """

    server_version = "LeadsV1-Simulator/1.0"
    thread_name = "leads-v1-simulator"
    list_path = LEADS_PATH
    items_key = "data"
    page_size = MAX_LIMIT
    api: Api

    def __init__(
        self,
        n_leads: int = 0,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        rate_limit: int | None = None,
        latency_s: float = 0.0,
        store: LeadsV1Store | None = None,
        rate_window_s: float = 60,
        accounts: Iterable[Account] | None = None,
    ) -> None:
        if not is_loopback(host):  # before generating leads
            raise ValueError(f"refusing to bind non-loopback host {host!r}")
        self.faults = FaultPlan()
        self.limiter = RateLimiter(rate_limit, rate_window_s)
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
            self.tokens: Mapping[str, str] = table.grants(lambda a: a.tenant_id)
            store = _seeded(clock, [(a.tenant_id, a.n_leads, a.seed) for a in table])
        else:
            self.tokens = normalize_tokens(tokens)
            if store is None:
                seeds = [
                    (DEFAULT_ORGANIZATION_ID, n_leads, seed),
                    (OTHER_ORGANIZATION_ID, OTHER_ORG_LEADS, seed + 1),
                ]
                store = _seeded(clock, seeds)
        self.store = store
        self.api = Api(store, self.tokens, self.limiter, self.faults, latency_s, table)
        super().__init__(host, port)

    def settings_of(self, account: Account) -> dict[str, str]:
        """What ``pipelines.registry`` gives a Leads v1 run: base_url and api_token (the token
        names the organization)."""
        return {"base_url": self.url, "api_token": account.token}

    @property
    def clock(self) -> Clock:
        return self.store.clock

    # ----- SourceServer ----------------------------------------------------------------------

    @classmethod
    def sample(cls, n_leads: int, seed: int = 0, clock: Clock | None = None) -> LeadsV1Server:
        return cls(n_leads=n_leads, seed=seed, clock=clock)

    def run_settings(self) -> dict[str, str]:
        token = next(t for t, org in self.tokens.items() if org == self.store.organization_id)
        return {"base_url": self.url, "api_token": token}

    def leads(self) -> list[dict[str, Any]]:
        """The default organization's full records (what a run with its token loads)."""
        return self.store.leads()

    def list_order(self) -> list[str]:
        return [lead["id"] for lead in self.leads()]  # the store keeps (created_at, id) order

    def stats(self) -> dict[str, Any]:
        return {"leads": len(self.store), **super().stats(), "version": self.store.version}

    def admin(self, method: str, path: str, query: dict[str, str]) -> Response | None:
        """``POST /_sim/leads/{id}/delete`` (hard delete), ``POST /_sim/touch?n=&seed=``
        (edit n default-org leads, moving updated_at), ``GET /_sim/snapshot`` (default-org
        records in list order); plus the core's ``/_sim/stats`` and ``/_sim/reset_requests``."""
        if method == "POST" and (match := _DELETE.match(path)):
            if not self.store.delete(match.group(1)):
                raise not_found()
            return Response(200, orjson.dumps({"deleted": match.group(1)}))
        if method == "POST" and path == "/_sim/touch":
            try:
                ids = self.store.touch(int(query.get("n", "1")), int(query.get("seed", "0")))
            except ValueError:  # not integers, or a negative n
                raise invalid_request("n and seed must be integers, n >= 0.") from None
            return Response(200, orjson.dumps({"ids": ids, "version": self.store.version}))
        if method == "GET" and path == "/_sim/snapshot":
            return Response(200, orjson.dumps(self.store.leads()))
        return None


def _seeded(clock: Clock | None, seeds: list[tuple[str, int, int]]) -> LeadsV1Store:
    """A store whose default organization is the first of ``seeds``, each
    ``(organization id, leads, seed)`` generated before the clock's now."""
    store = LeadsV1Store(clock or SystemClock(), seeds[0][0])
    now = store.clock.now()
    for organization_id, n_leads, seed in seeds:
        try:
            store.add_many(generate_leads(n_leads, seed, organization_id, now))
        except ValueError:  # generated ids come from the seed
            raise ValueError(f"two accounts share the seed {seed}; give each its own") from None
    return store
