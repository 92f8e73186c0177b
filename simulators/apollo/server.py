"""``ApolloServer``: the Apollo Space API on the core server (``simulators.core.server``), and
a few ``/_sim/`` admin endpoints for a simulator run from the CLI."""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Any

import orjson

from simulators.core.accounts import Account, Accounts, derived_uuid
from simulators.core.clock import Clock, SystemClock
from simulators.core.messages import Response
from simulators.core.ratelimit import RateLimiter
from simulators.core.server import ServerCore

from .api import Api
from .auth import accepted_tokens
from .faults import FaultPlan
from .schema import API_PREFIX
from .store import ApolloStore
from .validation import is_uuid


class ApolloServer(ServerCore):
    """A local Apollo Space API: ``with ApolloServer() as sim: httpx.post(sim.url + "/leads")``.

    ``url`` is the API root with the doc's ``/v1`` prefix; ``origin`` is the server without it
    (the ``/_sim/`` admin endpoints live there). ``tokens``: the accepted JWTs (default: any
    token ``issue_token`` signed). Without a ``store`` an empty one on ``clock`` (default: the
    wall clock) is made; with one, the store's clock is used and ``clock`` is ignored. The
    clock also decides when a token has expired. ``latency_s`` is slept by each request's
    own thread, so concurrent requests overlap.

    ``accounts`` (instead of ``tokens``): several organizations, each with its own token
    (``simulators.apollo.account``), one pipeline, rate-limit budget and faults.
    """

    server_version = "Apollo-Simulator/1.0"
    thread_name = "apollo-simulator"
    api: Api

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Iterable[str] | None = None,
        clock: Clock | None = None,
        rate_limit: int | None = None,
        latency_s: float = 0.0,
        store: ApolloStore | None = None,
        rate_window_s: float = 60,
        accounts: Iterable[Account] | None = None,
    ) -> None:
        self.store = store if store is not None else ApolloStore(clock or SystemClock())
        self.faults = FaultPlan()
        self.limiter = RateLimiter(rate_limit, rate_window_s)
        table: Accounts | None = None
        if accounts is not None:
            table = Accounts.serving(accounts, rate_limit, rate_window_s, FaultPlan, tokens=tokens)
            for account in table:
                self.store.add_pipeline(
                    account.tenant_id, "Vendas", "novo", account_pipeline_id(account)
                )
        self.tokens: Container[str] | None = table if table is not None else accepted_tokens(tokens)
        self.api = Api(self.store, self.tokens, self.limiter, self.faults, latency_s, table)
        super().__init__(host, port)
        self.origin = self.url
        self.url = self.origin + API_PREFIX

    def settings_of(self, account: Account) -> dict[str, str]:
        """What the Apollo push target reads: base_url (with /v1), api_token, organization_id
        and the pipeline made for the account."""
        return {
            "base_url": self.url,
            "api_token": account.token,
            "organization_id": account.tenant_id,
            "pipeline_id": account_pipeline_id(account),
        }

    @property
    def clock(self) -> Clock:
        return self.store.clock

    def stats(self) -> dict[str, Any]:
        return {"leads": len(self.store), **super().stats()}

    def admin(self, method: str, path: str, query: dict[str, str]) -> Response | None:
        """``GET /_sim/snapshot`` (leads in creation order) and ``GET /_sim/pipelines``, of
        ``?organization_id=`` (default: the default organization); plus the core's
        ``/_sim/stats`` and ``/_sim/reset_requests``."""
        if method != "GET" or path not in ("/_sim/snapshot", "/_sim/pipelines"):
            return None
        organization_id = query.get("organization_id")
        if organization_id is not None and not is_uuid(organization_id):
            return self.api.error(400, "organization_id must be a UUID.")
        if path == "/_sim/snapshot":
            return Response(200, orjson.dumps(self.store.leads(organization_id)))
        return Response(200, orjson.dumps(self.store.pipelines(organization_id)))


def account_pipeline_id(account: Account) -> str:
    """The id of the one pipeline a server with accounts makes for ``account``."""
    return derived_uuid("apollo-pipeline", account.name)
