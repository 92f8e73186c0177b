"""The source's settings, validated once, and the stream identity derived from the filters."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta

import httpx

from sources.core.config_checks import SettingChecks, aware_timestamp, parse_duration
from sources.core.endpoint import EndpointSpec
from sources.core.errors import ConfigurationError
from sources.core.pacing import ClientStats, RateLimitPacer
from sources.core.pii import PiiPolicy
from sources.core.retry import RetryPolicy
from sources.core.sweep.options import SweepOptions

from . import settings
from .client import RETRY, MegaClient, check_base_url
from .endpoint import LEADS_KEYSET, PII_COLUMNS, leads_endpoint
from .shaping import format_timestamp

CHECKS = SettingChecks("mega")
setting_name = CHECKS.setting_name
whole_number = CHECKS.whole_number
seconds = CHECKS.seconds
require = CHECKS.require


def customer_uuid(value: str) -> str:
    """001 declares `x-customer-id` as `format: uuid`: a typo fails here, not as a 401 later."""
    try:
        uuid.UUID(value)
    except ValueError:
        raise ConfigurationError(
            f"customer_id must be a UUID like 00000000-0000-4000-8000-000000000001, got "
            f"{value!r} (setting SOURCES__MEGA__CUSTOMER_ID)"
        ) from None
    return value


def normalize_timestamp(value: str | None, setting: str) -> str | None:
    if value is None or value == "":
        return None
    return format_timestamp(aware_timestamp(value, setting))


@dataclass(frozen=True)
class Filters:
    """The API filters a stream is loaded under (001). Each set has its own state."""

    status: str | None = None
    stage_id: str | None = None
    lead_line: str | None = None
    search: str | None = None
    created_since: str | None = None
    initial_updated_since: str | None = None

    def __post_init__(self) -> None:
        if self.lead_line not in (None, "buyer", "seller"):
            raise ConfigurationError(
                f"lead_line must be 'buyer' or 'seller', got {self.lead_line!r} "
                "(setting SOURCES__MEGA__LEAD_LINE)"
            )

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


@dataclass(frozen=True)
class SourceConfig:
    base_url: str
    api_token: str = field(repr=False)
    customer_id: str
    filters: Filters
    checkpoint_pages: int = settings.CHECKPOINT_PAGES
    checkpoint_seconds: float = settings.CHECKPOINT_SECONDS
    prefetch_pages: int = settings.PREFETCH_PAGES
    fetch_process_min_leads: int = settings.FETCH_PROCESS_MIN_LEADS
    lookback: timedelta = timedelta(0)
    timeout: httpx.Timeout = field(default_factory=lambda: httpx.Timeout(settings.READ_TIMEOUT_S))
    retry: RetryPolicy = RETRY
    rate_limit_reserve: int = settings.RATE_LIMIT_RESERVE
    workers: int = 1
    pii: PiiPolicy = field(default_factory=PiiPolicy)

    def endpoint(self) -> EndpointSpec:
        return leads_endpoint(self.pii)

    def list_params(self) -> dict[str, str]:
        return {**LEADS_KEYSET.params, **self.filters.query_params()}

    def sweep_options(self) -> SweepOptions:
        return SweepOptions(
            params=self.list_params(),
            stream_key=self.filters.stream_key,
            filters=self.filters.describe(),
            initial_since=self.filters.initial_updated_since,
            lookback=self.lookback,
            checkpoint_pages=self.checkpoint_pages,
            checkpoint_seconds=self.checkpoint_seconds,
            prefetch_pages=self.prefetch_pages,
            fetch_process_min_items=self.fetch_process_min_leads,
            fetch_process_buffer_pages=settings.FETCH_PROCESS_BUFFER_PAGES,
            workers=self.workers,
        )

    def open_client(self, stats: ClientStats, sleep: Callable[[float], None]) -> MegaClient:
        """The run's client: one rate-limit budget for every worker, waits that Ctrl-C ends."""
        pacer = RateLimitPacer.for_run(
            self.rate_limit_reserve, self.retry.retry_after_max_s, stats, sleep
        )
        return MegaClient(
            self.base_url,
            self.api_token,
            self.customer_id,
            timeout=self.timeout,
            retry=self.retry,
            pacer=pacer,
            sleep=sleep,
        )


MAX_WORKERS = 32


def build_config(
    *,
    base_url: str,
    api_token: str | None,
    customer_id: str | None,
    filters: Filters,
    lookback: object,
    checkpoint_pages: object,
    checkpoint_seconds: object,
    prefetch_pages: object,
    fetch_process_min_leads: object,
    connect_timeout: object,
    read_timeout: object,
    max_retries: object,
    backoff_base: object,
    backoff_max: object,
    retry_after_max: object,
    max_retry_time: object,
    rate_limit_reserve: object,
    workers: object,
    pii: str | None = None,
    pii_key: str | None = None,
) -> SourceConfig:
    """Every source setting checked once, before any request: each error names the setting,
    its environment variable and what is allowed."""
    worker_count = whole_number(workers, "workers", 1, MAX_WORKERS)
    return SourceConfig(
        base_url=check_base_url(str(base_url or "")),
        api_token=require(api_token, "api_token", secret=True),
        customer_id=customer_uuid(require(customer_id, "customer_id")),
        filters=filters,
        checkpoint_pages=whole_number(checkpoint_pages, "checkpoint_pages", 1),
        checkpoint_seconds=seconds(checkpoint_seconds, "checkpoint_seconds"),
        prefetch_pages=whole_number(prefetch_pages, "prefetch_pages", 0, 1000),
        fetch_process_min_leads=whole_number(fetch_process_min_leads, "fetch_process_min_leads", 0),
        lookback=parse_duration(lookback, "lookback"),  # type: ignore[arg-type]
        timeout=CHECKS.timeout(connect_timeout, read_timeout, settings.WRITE_TIMEOUT_S),
        retry=CHECKS.retry(
            RETRY,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            retry_after_max=retry_after_max,
            max_retry_time=max_retry_time,
        ),
        # Each worker may have a request in flight when the quota runs low.
        rate_limit_reserve=max(
            whole_number(rate_limit_reserve, "rate_limit_reserve", 0), worker_count
        ),
        workers=worker_count,
        pii=PiiPolicy.parse(pii, pii_key, PII_COLUMNS, setting_name("pii")),
    )
