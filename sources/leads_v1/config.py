"""The source's settings, validated once, and the stream identity derived from the filters."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import httpx

from sources.core.config_checks import SettingChecks
from sources.core.connect import check_base_url
from sources.core.endpoint import DetailEndpoint
from sources.core.errors import ConfigurationError
from sources.core.pacing import ClientStats, RateLimitPacer
from sources.core.pii import PiiPolicy
from sources.core.retry import RetryPolicy
from sources.core.sweep.options import DetailOptions

from . import settings
from .client import BASE_URL_SETTING, RETRY, TIMEOUT, LeadsV1Client
from .endpoint import LEADS_KEYSET, PII_COLUMNS, leads_endpoint

CHECKS = SettingChecks("leads_v1")
DELETE_MODES = ("soft", "hard")


@dataclass(frozen=True)
class Filters:
    """004's list filters. Each set has its own state, and its deletes are judged only among
    the loaded leads that match it."""

    pipeline_stage: str | None = None
    source: str | None = None

    def query_params(self) -> dict[str, str]:
        return self.describe()

    @property
    def stream_key(self) -> str:
        chosen = self.describe()
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
    filters: Filters
    new_only: bool = False
    delete_mode: str = "soft"
    detail_concurrency: int = settings.DETAIL_CONCURRENCY
    checkpoint_pages: int = settings.CHECKPOINT_PAGES
    checkpoint_seconds: float = settings.CHECKPOINT_SECONDS
    prefetch_pages: int = settings.PREFETCH_PAGES
    timeout: httpx.Timeout = field(default_factory=lambda: TIMEOUT)
    retry: RetryPolicy = RETRY
    rate_limit_reserve: int = settings.RATE_LIMIT_RESERVE
    pii: PiiPolicy = field(default_factory=PiiPolicy)

    def endpoint(self) -> DetailEndpoint:
        return leads_endpoint(self.pii)

    def sweep_options(self) -> DetailOptions:
        return DetailOptions(
            params={**LEADS_KEYSET.params, **self.filters.query_params()},
            stream_key=self.filters.stream_key,
            filters=self.filters.describe(),
            new_only=self.new_only,
            concurrency=self.detail_concurrency,
            delete_mode=self.delete_mode,
            checkpoint_pages=self.checkpoint_pages,
            checkpoint_seconds=self.checkpoint_seconds,
            prefetch_pages=self.prefetch_pages,
        )

    def open_client(self, stats: ClientStats, sleep: Callable[[float], None]) -> LeadsV1Client:
        """The run's client: one rate-limit budget for every detail request in flight."""
        pacer = RateLimitPacer.for_run(
            self.rate_limit_reserve, self.retry.retry_after_max_s, stats, sleep
        )
        return LeadsV1Client(
            self.base_url,
            self.api_token,
            timeout=self.timeout,
            retry=self.retry,
            pacer=pacer,
            sleep=sleep,
        )


def flag(value: object, name: str) -> bool:
    """A yes/no setting: a bool, or true/false/1/0/yes/no as text (env vars)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise ConfigurationError(
        f"{name} must be true or false, got {value!r} (setting {CHECKS.setting_name(name)})"
    )


def build_config(
    *,
    base_url: str | None,
    api_token: str | None,
    filters: Filters,
    new_only: object,
    delete_mode: object,
    detail_concurrency: object,
    checkpoint_pages: object,
    checkpoint_seconds: object,
    prefetch_pages: object,
    connect_timeout: object,
    read_timeout: object,
    max_retries: object,
    backoff_base: object,
    backoff_max: object,
    retry_after_max: object,
    max_retry_time: object,
    rate_limit_reserve: object,
    pii: str | None = None,
    pii_key: str | None = None,
) -> SourceConfig:
    """Every source setting checked once, before any request: each error names the setting,
    its environment variable and what is allowed."""
    if delete_mode not in DELETE_MODES:
        raise ConfigurationError(
            f"delete_mode must be 'soft' or 'hard', got {delete_mode!r} "
            f"(setting {CHECKS.setting_name('delete_mode')})"
        )
    concurrency = CHECKS.whole_number(
        detail_concurrency, "detail_concurrency", 1, settings.MAX_DETAIL_CONCURRENCY
    )
    return SourceConfig(
        base_url=check_base_url(CHECKS.require(base_url, "base_url"), BASE_URL_SETTING),
        api_token=CHECKS.require(api_token, "api_token", secret=True),
        filters=filters,
        new_only=flag(new_only, "new_only"),
        delete_mode=str(delete_mode),
        detail_concurrency=concurrency,
        checkpoint_pages=CHECKS.whole_number(checkpoint_pages, "checkpoint_pages", 1),
        checkpoint_seconds=CHECKS.seconds(checkpoint_seconds, "checkpoint_seconds"),
        prefetch_pages=CHECKS.whole_number(prefetch_pages, "prefetch_pages", 0, 1000),
        timeout=CHECKS.timeout(connect_timeout, read_timeout, settings.WRITE_TIMEOUT_S),
        retry=CHECKS.retry(
            RETRY,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            retry_after_max=retry_after_max,
            max_retry_time=max_retry_time,
        ),
        # Each detail request in flight may be sent when the quota runs low.
        rate_limit_reserve=max(
            CHECKS.whole_number(rate_limit_reserve, "rate_limit_reserve", 0), concurrency
        ),
        pii=PiiPolicy.parse(pii, pii_key, PII_COLUMNS, CHECKS.setting_name("pii")),
    )
