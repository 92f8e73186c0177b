"""The source's settings, declared once (a dlt spec, checked when resolved), and the stream
identity derived from the filters."""

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from dlt.common.configuration.specs import configspec

from sources.core.config_checks import aware_timestamp, parse_duration
from sources.core.endpoint import EndpointSpec, Keyset
from sources.core.errors import ConfigurationError
from sources.core.pacing import ClientStats
from sources.core.settings import (
    ApiSettings,
    Flag,
    PersonalDataSettings,
    SweepSettings,
    setting,
)
from sources.core.sweep.options import SweepOptions

from . import settings
from .client import RETRY, MegaClient
from .endpoint import LEADS_KEYSET, PII_COLUMNS, leads_endpoint
from .shaping import format_timestamp

MAX_WORKERS = 32
FILTERS = ("status", "stage_id", "lead_line", "search", "created_since")
# 003's `status` filter: the only values the API knows (another one matches nothing).
STATUSES = ("active", "won", "lost", "nurture", "archived")


def customer_uuid(value: str, setting_name: str) -> str:
    """001 declares `x-customer-id` as `format: uuid`: a typo fails here, not as a 401 later."""
    try:
        uuid.UUID(value)
    except ValueError:
        raise ConfigurationError(
            f"customer_id must be a UUID like 00000000-0000-4000-8000-000000000001, got "
            f"{value!r} (setting {setting_name})"
        ) from None
    return value


def normalize_timestamp(value: str | None, setting: str, variable: str = "") -> str | None:
    if value is None or value == "":
        return None
    return format_timestamp(aware_timestamp(value, setting, variable))


@dataclass(frozen=True)
class Filters:
    """The API filters a stream is loaded under (001). Each set has its own state."""

    status: str | None = None
    stage_id: str | None = None
    lead_line: str | None = None
    search: str | None = None
    created_since: str | None = None
    initial_updated_since: str | None = None

    def query_params(self) -> dict[str, str]:
        params = {
            "status": self.status,
            "stageId": self.stage_id,  # 001 spells this one in camelCase
            "lead_line": self.lead_line,
            "search": self.search,
            "created_since": self.created_since,
        }
        return {key: value for key, value in params.items() if value}

    @property
    def stream_key(self) -> str:
        chosen = {key: value for key, value in asdict(self).items() if value}
        if not chosen:
            return "all"
        digest = hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()
        return f"filtered_{digest[:16]}"

    def describe(self) -> dict[str, str]:
        return {key: value for key, value in asdict(self).items() if value}


_FILTER = "filters"


@configspec
class MegaSettings(ApiSettings, SweepSettings, PersonalDataSettings):
    """Every setting of the ``mega`` source: ``[sources.mega]`` or ``SOURCES__MEGA__<NAME>``."""

    __setting_section__: ClassVar[str] = "mega"
    # Each account of several names its own customer (001: the key is locked to one).
    __account_settings__: ClassVar[tuple[str, ...]] = ("api_token", "customer_id")
    __tenant_column__: ClassVar[str | None] = "customer_id"  # in every lead (001)
    __pii_columns__: ClassVar[tuple[str, ...]] = PII_COLUMNS
    __keyset__: ClassVar[Keyset] = LEADS_KEYSET

    base_url: str | None = settings.DEFAULT_BASE_URL
    customer_id: str | None = None
    status: str | None = setting(flag=Flag(group=_FILTER, choices=STATUSES))
    stage_id: str | None = setting(flag=Flag(group=_FILTER))
    lead_line: str | None = setting(flag=Flag(group=_FILTER, choices=("buyer", "seller")))
    search: str | None = setting(flag=Flag(group=_FILTER))
    created_since: str | None = setting(flag=Flag(group=_FILTER, metavar="TS"))
    initial_updated_since: str | None = setting(
        flag=Flag(metavar="TS", help="backfill start (ISO-8601) for a stream with no state yet")
    )
    # Seconds, "15m" or "PT1H"; a timedelta once resolved.
    lookback: Any = setting(0, Flag(help="re-read this far behind the mark, e.g. 15m"))
    checkpoint_pages: int = 1000
    prefetch_pages: int = 10
    # A sweep with more leads than this due fetches in a child process (fetch_process.py); 0: never.
    fetch_process_min_leads: int = 20_000
    workers: int = setting(
        1, Flag(help="backfill with K parallel workers over equal updated_at ranges (default 1)")
    )

    def on_resolved(self) -> None:
        checks = self.checks
        self.workers = checks.whole_number(self.workers, "workers", 1, MAX_WORKERS)
        self.customer_id = customer_uuid(
            checks.require(self.customer_id, "customer_id"), checks.setting_name("customer_id")
        )
        self.fetch_process_min_leads = checks.whole_number(
            self.fetch_process_min_leads, "fetch_process_min_leads", 0
        )
        if self.lead_line not in (None, "", "buyer", "seller"):
            raise ConfigurationError(
                f"lead_line must be 'buyer' or 'seller', got {self.lead_line!r} "
                f"(setting {checks.setting_name('lead_line')})"
            )
        if self.status not in (None, "", *STATUSES):
            raise ConfigurationError(
                f"status must be one of {', '.join(STATUSES)}, got {self.status!r} "
                f"(setting {checks.setting_name('status')})"
            )
        for name in ("created_since", "initial_updated_since"):
            value = normalize_timestamp(getattr(self, name), name, checks.setting_name(name))
            setattr(self, name, value)
        self.lookback = parse_duration(self.lookback, "lookback", checks.setting_name("lookback"))
        # Each worker may have a request in flight when the quota runs low.
        self.rate_limit_reserve = max(self.rate_limit_reserve, self.workers)

    @property
    def filters(self) -> Filters:
        chosen = {name: getattr(self, name) or None for name in (*FILTERS, "initial_updated_since")}
        return Filters(**chosen)

    def endpoint(self) -> EndpointSpec:
        return leads_endpoint(self.pii_policy())

    def list_params(self) -> dict[str, str]:
        return {**LEADS_KEYSET.params, **self.filters.query_params()}

    def sweep_options(self) -> SweepOptions:
        return SweepOptions(
            **self.stream_options(),
            initial_since=self.filters.initial_updated_since,
            lookback=self.lookback,
            fetch_process_min_items=self.fetch_process_min_leads,
            fetch_process_buffer_pages=settings.FETCH_PROCESS_BUFFER_PAGES,
            workers=self.workers,
        )

    def open_client(self, stats: ClientStats, sleep: Callable[[float], None]) -> MegaClient:
        """The run's client: one rate-limit budget for every worker, waits that Ctrl-C ends."""
        return MegaClient(
            str(self.base_url),  # each one checked when resolved
            str(self.api_token),
            str(self.customer_id),
            **self.client_options(RETRY, stats, sleep),
        )


# The runners' name for a resolved source config.
SourceConfig = MegaSettings
