"""Checks every source's settings share: each error names the setting and its environment
variable (dlt's layout of ``[sources.<section>] name``) and says what is allowed."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import httpx

from .errors import ConfigurationError
from .retry import RetryPolicy

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class SettingChecks:
    """The checks of one source's (or destination's) settings, ``section`` naming it (``mega``,
    ``leads_v1``) under ``kind`` (dlt's ``sources`` or ``destination``)."""

    section: str
    kind: str = "sources"

    def setting_name(self, name: str) -> str:
        return f"{self.kind.upper()}__{self.section.upper()}__{name.upper()}"

    def whole_number(self, value: object, name: str, low: int, high: int | None = None) -> int:
        """An integer within [low, high]; digit strings count (env vars, CLI, Python)."""
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            number = int(value)
        if number is None or number < low or (high is not None and number > high):
            allowed = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise ConfigurationError(
                f"{name} must be a whole number {allowed}, got {value!r} "
                f"(setting {self.setting_name(name)})"
            )
        return number

    def seconds(self, value: object, name: str, zero_ok: bool = False) -> float:
        """A number of seconds: greater than 0 (or at least 0 where ``zero_ok``)."""
        try:
            number = float(value) if not isinstance(value, bool) else None  # type: ignore[arg-type]
        except (TypeError, ValueError):
            number = None
        if number is None or number != number or number < 0 or (number == 0 and not zero_ok):
            allowed = "0 or more" if zero_ok else "greater than 0"
            raise ConfigurationError(
                f"{name} must be a number of seconds {allowed}, got {value!r} "
                f"(setting {self.setting_name(name)})"
            )
        return number

    def require(self, value: str | None, name: str, secret: bool = False) -> str:
        if value:
            return value
        raise ConfigurationError(
            f"missing {name}: set {self.setting_name(name)} or `{name}` under "
            f"[{self.kind}.{self.section}]",
            toml_file="secrets.toml" if secret else "config.toml",
        )

    def timeout(self, connect: object, read: object, write_s: float) -> httpx.Timeout:
        return httpx.Timeout(
            self.seconds(read, "read_timeout"),
            connect=self.seconds(connect, "connect_timeout"),
            write=write_s,
        )

    def retry(
        self,
        policy: RetryPolicy,
        *,
        max_retries: object,
        backoff_base: object,
        backoff_max: object,
        retry_after_max: object,
        max_retry_time: object,
    ) -> RetryPolicy:
        """``policy`` (the API's named one) with the source's retry settings."""
        return replace(
            policy,
            max_retries=self.whole_number(max_retries, "max_retries", 0, 100),
            backoff_base_s=self.seconds(backoff_base, "backoff_base", zero_ok=True),
            backoff_max_s=self.seconds(backoff_max, "backoff_max", zero_ok=True),
            retry_after_max_s=self.seconds(retry_after_max, "retry_after_max", zero_ok=True),
            max_retry_time_s=self.seconds(max_retry_time, "max_retry_time", zero_ok=True),
        )


def _named(variable: str) -> str:
    return f" (setting {variable})" if variable else ""


def parse_duration(value: str | float | int | None, setting: str, variable: str = "") -> timedelta:
    """Seconds as a number, `90s` / `15m` / `2h` / `1d`, or an ISO-8601 duration (`PT15M`);
    errors name ``setting`` and, when given, its ``variable``."""
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
            seconds = _iso_duration_seconds(text, setting, variable)
    if seconds < 0:
        raise ConfigurationError(f"{setting} must not be negative, got {value!r}{_named(variable)}")
    return timedelta(seconds=seconds)


def _iso_duration_seconds(text: str, setting: str, variable: str) -> float:
    import pendulum

    try:
        parsed = pendulum.parse(text)
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        parsed = None
    if not isinstance(parsed, pendulum.Duration):
        raise ConfigurationError(
            f"{setting} must be a duration like 900, '15m', '2h' or 'PT15M', got {text!r}"
            f"{_named(variable)}"
        )
    return float(parsed.total_seconds())


def aware_timestamp(value: str, setting: str, variable: str = "") -> datetime:
    """An ISO-8601 timestamp with a time zone, or a one-line error naming the setting."""
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(
            f"{setting} must be an ISO-8601 timestamp like 2026-01-01T00:00:00Z, got {value!r}"
            f"{_named(variable)}"
        ) from None
    if parsed.tzinfo is None:
        raise ConfigurationError(
            f"{setting} needs a time zone (e.g. a trailing Z), got {value!r}{_named(variable)}"
        )
    return parsed
