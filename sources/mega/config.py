"""The source's settings, validated once, and the stream identity derived from the filters."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta

import httpx

from sources.core.errors import ConfigurationError
from sources.core.pacing import ClientStats, RateLimitPacer
from sources.core.retry import RetryPolicy
from sources.core.sweep.options import SweepOptions

from . import settings
from .client import RETRY, MegaClient, check_base_url
from .endpoint import LEADS_KEYSET
from .shaping import format_timestamp, parse_timestamp

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def setting_name(name: str) -> str:
    """The environment variable of a source setting (dlt's layout of ``[sources.mega] name``)."""
    return f"SOURCES__MEGA__{name.upper()}"


def whole_number(value: object, name: str, low: int, high: int | None = None) -> int:
    """An integer setting within [low, high]; digit strings count (env vars, CLI, Python)."""
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value)
    if number is None or number < low or (high is not None and number > high):
        allowed = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ConfigurationError(
            f"{name} must be a whole number {allowed}, got {value!r} (setting {setting_name(name)})"
        )
    return number


def seconds(value: object, name: str, zero_ok: bool = False) -> float:
    """A number of seconds: greater than 0 (or at least 0 where ``zero_ok``)."""
    try:
        number = float(value) if not isinstance(value, bool) else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = None
    if number is None or number != number or number < 0 or (number == 0 and not zero_ok):
        allowed = "0 or more" if zero_ok else "greater than 0"
        raise ConfigurationError(
            f"{name} must be a number of seconds {allowed}, got {value!r} "
            f"(setting {setting_name(name)})"
        )
    return number


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


def parse_duration(value: str | float | int | None, setting: str) -> timedelta:
    """Seconds as a number, `90s` / `15m` / `2h` / `1d`, or an ISO-8601 duration (`PT15M`)."""
    if value is None or value == "":
        return timedelta(0)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value)
        match = _DURATION.match(text)
        if match:
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        else:
            seconds = _iso_duration_seconds(text, setting)
    if seconds < 0:
        raise ConfigurationError(f"{setting} must not be negative, got {value!r}")
    return timedelta(seconds=seconds)


def _iso_duration_seconds(text: str, setting: str) -> float:
    import pendulum

    try:
        parsed = pendulum.parse(text)
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        parsed = None
    if not isinstance(parsed, pendulum.Duration):
        raise ConfigurationError(
            f"{setting} must be a duration like 900, '15m', '2h' or 'PT15M', got {text!r}"
        )
    return float(parsed.total_seconds())


def normalize_timestamp(value: str | None, setting: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        parsed = parse_timestamp(str(value))
    except ValueError:
        raise ConfigurationError(
            f"{setting} must be an ISO-8601 timestamp like 2026-01-01T00:00:00Z, got {value!r}"
        ) from None
    if parsed.tzinfo is None:
        raise ConfigurationError(f"{setting} needs a time zone (e.g. a trailing Z), got {value!r}")
    return format_timestamp(parsed)


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
        pacer = RateLimitPacer(
            reserve=self.rate_limit_reserve,
            max_wait_s=self.retry.retry_after_max_s,
            stats=stats,
            sleep=sleep,
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


def require(value: str | None, name: str, secret: bool = False) -> str:
    if value:
        return value
    raise ConfigurationError(
        f"missing {name}: set {setting_name(name)} or `{name}` under [sources.mega]",
        toml_file="secrets.toml" if secret else "config.toml",
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
        timeout=httpx.Timeout(
            seconds(read_timeout, "read_timeout"),
            connect=seconds(connect_timeout, "connect_timeout"),
            write=settings.WRITE_TIMEOUT_S,
        ),
        retry=replace(
            RETRY,
            max_retries=whole_number(max_retries, "max_retries", 0, 100),
            backoff_base_s=seconds(backoff_base, "backoff_base", zero_ok=True),
            backoff_max_s=seconds(backoff_max, "backoff_max", zero_ok=True),
            retry_after_max_s=seconds(retry_after_max, "retry_after_max", zero_ok=True),
            max_retry_time_s=seconds(max_retry_time, "max_retry_time", zero_ok=True),
        ),
        # Each worker may have a request in flight when the quota runs low.
        rate_limit_reserve=max(
            whole_number(rate_limit_reserve, "rate_limit_reserve", 0), worker_count
        ),
        workers=worker_count,
    )
