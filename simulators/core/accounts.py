"""Several accounts on one simulator: each a name with its own token, tenant (MEGA's customer,
Leads v1's and Apollo's organization), seeded data, rate-limit budget and armed faults, and
revocable while the server runs (its token is then refused as an unknown one).

An API builds its token table as a live view (:meth:`Accounts.grants`): a revoked token drops
out of it, so the API's own authentication answers its own 401 for it.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from .auth import bearer_token
from .faults import FaultPlan
from .messages import Request
from .ratelimit import RateLimiter

V = TypeVar("V")


@dataclass(frozen=True)
class Account:
    """One tenant's credentials and data. ``tenant_id`` is the customer id (MEGA) or the
    organization id (Leads v1, Apollo); ``n_leads`` leads are generated from ``seed``."""

    name: str
    token: str
    tenant_id: str
    n_leads: int = 0
    seed: int = 0


def derived_hex(namespace: str, name: str) -> str:
    """64 hex digits fixed by ``namespace`` and ``name``: a token that is the same every run."""
    return hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()


def derived_uuid(namespace: str, name: str) -> str:
    """A UUID fixed by ``namespace`` and ``name`` (a tenant id that is the same every run)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"simulator:{namespace}/{name}"))


def numbered(
    count: int, n_leads: int, seed: int, make: Callable[[str, int, int], Account]
) -> list[Account]:
    """``account-1`` … ``account-<count>``, each with ``n_leads`` leads from its own seed
    (``seed``, ``seed + 1`` …); ``make(name, n_leads, seed)`` is the API's account factory."""
    return [make(f"account-{i + 1}", n_leads, seed + i) for i in range(count)]


class Accounts:
    """The accounts a server holds, by name and by token; thread-safe.

    ``limiter()`` and ``fault_plan()`` make each account's own budget and fault plan (the same
    limits for every account, counted apart).
    """

    def __init__(
        self,
        accounts: Iterable[Account],
        limiter: Callable[[], RateLimiter],
        fault_plan: Callable[[], FaultPlan],
    ) -> None:
        self._by_name: dict[str, Account] = {}
        self._by_token: dict[str, Account] = {}
        tenants: set[str] = set()
        for account in accounts:
            for kind, value, seen in (
                ("name", account.name, self._by_name),
                ("token", account.token, self._by_token),
                ("tenant id", account.tenant_id.lower(), tenants),
            ):
                if value in seen:
                    raise ValueError(f"two accounts share a {kind} ({account.name!r})")
            self._by_name[account.name] = self._by_token[account.token] = account
            tenants.add(account.tenant_id.lower())
        if not self._by_name:
            raise ValueError("accounts: at least one account is needed")
        self._limiters = {name: limiter() for name in self._by_name}
        self._faults = {name: fault_plan() for name in self._by_name}
        self._lock = threading.Lock()
        self._revoked: set[str] = set()

    @classmethod
    def serving(
        cls,
        accounts: Iterable[Account],
        rate_limit: int | None,
        rate_window_s: float,
        fault_plan: Callable[[], FaultPlan],
        **single_tenant: object,
    ) -> Accounts:
        """A server's accounts, each with a ``rate_limit`` per ``rate_window_s`` budget.
        ``single_tenant``: the server's single-tenant arguments, which must not be given too
        (None or 0: not given)."""
        given = [name for name, value in single_tenant.items() if value is not None and value != 0]
        if given:
            raise ValueError(
                f"with accounts, each account has its own token and data: drop {', '.join(given)}"
            )
        return cls(accounts, lambda: RateLimiter(rate_limit, rate_window_s), fault_plan)

    def __iter__(self) -> Iterator[Account]:
        return iter(list(self._by_name.values()))

    def __len__(self) -> int:
        return len(self._by_name)

    def __getitem__(self, name: str) -> Account:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no account named {name!r}; accounts: {list(self._by_name)}") from None

    def __contains__(self, token: object) -> bool:
        """Whether ``token`` is a live (not revoked) account's token."""
        return isinstance(token, str) and self.live(token) is not None

    @property
    def first(self) -> Account:
        return next(iter(self._by_name.values()))

    def of_request(self, request: Request) -> Account | None:
        """The account whose token the request carries, revoked or not; None: no account's."""
        token = bearer_token(request.headers.get("authorization"))
        return self._by_token.get(token) if token is not None else None

    def live(self, token: str) -> Account | None:
        account = self._by_token.get(token)
        with self._lock:
            return None if account is None or account.name in self._revoked else account

    def revoke(self, name: str) -> None:
        """From now on the account's token is refused as an invalid one."""
        account = self[name]
        with self._lock:
            self._revoked.add(account.name)

    def reinstate(self, name: str) -> None:
        account = self[name]
        with self._lock:
            self._revoked.discard(account.name)

    def revoked(self, name: str) -> bool:
        account = self[name]
        with self._lock:
            return account.name in self._revoked

    def limiter(self, name: str) -> RateLimiter:
        return self._limiters[self[name].name]

    def faults(self, name: str) -> FaultPlan:
        return self._faults[self[name].name]

    def grants(self, grant: Callable[[Account], V]) -> Mapping[str, V]:
        """A live token table ``{token: grant(account)}`` without the revoked accounts."""
        return _LiveGrants(self, {a.token: grant(a) for a in self._by_name.values()})


class _LiveGrants(Mapping[str, V], Generic[V]):
    def __init__(self, accounts: Accounts, grants: dict[str, V]) -> None:
        self._accounts = accounts
        self._grants = grants

    def __getitem__(self, token: str) -> V:
        if self._accounts.live(token) is None:
            raise KeyError(token)
        return self._grants[token]

    def __iter__(self) -> Iterator[str]:
        return (token for token in self._grants if self._accounts.live(token) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)
