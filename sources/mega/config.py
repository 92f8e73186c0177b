"""The source's settings, validated once, and the stream identity derived from the filters."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import timedelta

import httpx

from . import settings
from .client import RetryPolicy
from .errors import ConfigurationError
from .shaping import format_timestamp, parse_timestamp

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


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
    checkpoint_pages: int | None = settings.CHECKPOINT_PAGES
    checkpoint_seconds: float = settings.CHECKPOINT_SECONDS
    prefetch_pages: int = settings.PREFETCH_PAGES
    fetch_process_min_leads: int = settings.FETCH_PROCESS_MIN_LEADS
    lookback: timedelta = timedelta(0)
    timeout: httpx.Timeout = field(default_factory=lambda: httpx.Timeout(settings.READ_TIMEOUT_S))
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rate_limit_reserve: int = settings.RATE_LIMIT_RESERVE
    workers: int = 1

    def list_params(self) -> dict[str, str]:
        params = {
            "sort_by": settings.SORT_BY,
            "sort_dir": settings.SORT_DIR,
            "limit": str(settings.PAGE_LIMIT),
            "include_custom_fields": "true",
        }
        params.update(self.filters.query_params())
        return params


def require(value: str | None, name: str, secret: bool = False) -> str:
    if value:
        return value
    where = "dlt_config/secrets.toml" if secret else "dlt_config/config.toml"
    raise ConfigurationError(
        f"missing {name}: set SOURCES__MEGA__{name.upper()} or `{name}` under [sources.mega] "
        f"in {where}"
    )
