"""What the several-accounts tests need of each read API (MEGA, Leads v1): how to start a
server with accounts, the request headers an account's settings make, and all of an
account's leads over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from simulators import leads_v1, mega
from simulators.core.accounts import Account
from simulators.core.server import ServerCore
from tests.simulator.answers import pages


@dataclass(frozen=True)
class Kit:
    name: str
    server: Callable[..., ServerCore]  # (accounts=..., **options)
    account: Callable[[str, int, int], Account]
    path: str
    rows: str  # the key of a page's leads
    tenant_field: str  # the lead field naming its customer / organization

    def headers(self, settings: dict[str, str]) -> dict[str, str]:
        """The headers a run pointed at ``settings`` sends."""
        headers = {"Authorization": f"Bearer {settings['api_token']}"}
        if "customer_id" in settings:
            headers["x-customer-id"] = settings["customer_id"]
        return headers

    def client(self, sim: ServerCore, name: str) -> httpx.Client:
        settings = sim.account_settings(name)
        return httpx.Client(
            base_url=settings["base_url"], headers=self.headers(settings), timeout=10
        )

    def all_leads(self, client: httpx.Client) -> list[dict[str, Any]]:
        return [row for body in pages(client, self.path, {"limit": 50}) for row in body[self.rows]]

    def serve(self, accounts: Iterable[Account], **options: Any) -> ServerCore:
        return self.server(accounts=list(accounts), **options)

    @contextmanager
    def two(self, **options: Any) -> Iterator[tuple[ServerCore, httpx.Client, httpx.Client]]:
        """A started server with accounts ``acme`` and ``globex`` (5 leads each), and a
        client pointed at each."""
        accounts = [self.account("acme", 5, 1), self.account("globex", 5, 2)]
        with ExitStack() as stack:
            sim = stack.enter_context(self.serve(accounts, **options))
            acme = stack.enter_context(self.client(sim, "acme"))
            yield sim, acme, stack.enter_context(self.client(sim, "globex"))


MEGA = Kit(
    "mega", mega.SimulatorServer, mega.account, "/api/agents/crm/leads", "leads", "customer_id"
)
LEADS_V1 = Kit(
    "leads_v1",
    leads_v1.LeadsV1Server,
    leads_v1.account,
    leads_v1.LEADS_PATH,
    "data",
    "organization_id",
)
KITS = [MEGA, LEADS_V1]
