"""Settings declared once, as dlt configuration specs (``@configspec``).

A spec's fields are its settings: name, type and default. dlt resolves them from explicit values
(``run(workers=4)``, CLI flags), environment variables and the toml files, in dlt's lookup
order; ``on_resolved`` checks them once (each shared spec checks its own fields), and every
message names the setting as the user set it: ``SOURCES__<SOURCE>__<NAME>`` for a source,
``DESTINATION__<TARGET>__<NAME>`` for a push target. A field's metadata may carry its CLI flag
(``Flag``), from which the entrypoints derive their options.

Shared specs: ``HttpSettings`` (timeouts, retries, rate-limit reserve), ``SweepSettings``
(checkpoints, prefetch) and ``PersonalDataSettings`` (``pii``), inherited by each source's and
push target's spec.
"""

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, TypeVar

import httpx
from dlt.common.configuration.exceptions import ConfigValueCannotBeCoercedException
from dlt.common.configuration.resolve import resolve_configuration
from dlt.common.configuration.specs import BaseConfiguration, configspec
from dlt.common.configuration.utils import get_resolved_traces
from dlt.common.typing import TSecretStrValue

from .config_checks import SettingChecks
from .connect import check_base_url
from .dlt_config import provider_file
from .endpoint import Keyset, holds_any_item
from .errors import ConfigurationError
from .http import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, WRITE_TIMEOUT_S
from .pacing import DEFAULT_RESERVE, ClientStats, RateLimitPacer
from .pii import PiiPolicy
from .retry import DEFAULT_RETRY, RetryPolicy

Spec = TypeVar("Spec", bound="ConnectorSettings")
log = logging.getLogger("crm_leads.settings")
_KIND: dict[Any, str] = {int: "a whole number", float: "a number", bool: "true or false"}


@dataclass(frozen=True)
class Flag:
    """How a setting is a command-line option: ``--<name-with-dashes>``."""

    help: str | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    group: str | None = None  # an argument group's title (``FLAG_GROUPS``)
    switch: bool = False  # a store-true option; absent means "not given"


# Argument groups' descriptions, by title.
FLAG_GROUPS = {"filters": "narrow what is loaded; each filter set keeps its own state"}


def setting(default: Any = None, flag: Flag | None = None) -> Any:
    """A spec field with its default and, where it is a command-line option, its ``Flag``."""
    return dataclasses.field(default=default, metadata={"flag": flag} if flag else {})


@configspec
class ConnectorSettings(BaseConfiguration):
    """A source's or push target's settings: ``__kind__`` (dlt's ``sources`` or
    ``destination``) and ``__setting_section__`` (``mega``, ``leads_v1`` …) place them."""

    __kind__: ClassVar[str] = "sources"
    __setting_section__: ClassVar[str] = ""
    # What each account of several must set in its own section (README: Many accounts): the
    # credentials, and the setting that names the tenant where the API has one.
    __account_settings__: ClassVar[tuple[str, ...]] = ("api_token",)
    # The column of every row naming its account's tenant (MEGA's customer_id); None: the
    # source cannot run as one of several accounts yet (its sweep reads the whole table).
    __tenant_column__: ClassVar[str | None] = None

    @property
    def account(self) -> str | None:
        """The account of several these settings are (``[<kind>.<section>.accounts.<name>]``),
        or None for the single account configured in the section itself. Kept outside the
        spec's fields (an annotated attribute would be a setting)."""
        return self.__dict__.get("_account")

    def tenant(self) -> tuple[str, str] | None:
        """(column, value) naming this account's rows, for one of several accounts."""
        column = self.__tenant_column__
        if self.account is None or column is None:
            return None
        return column, str(getattr(self, column))

    @property
    def checks(self) -> SettingChecks:
        if self.account is not None:
            section = f"{self.__setting_section__}__accounts__{self.account}"
            return SettingChecks(section, self.__kind__)
        return SettingChecks(self.__setting_section__, self.__kind__)

    def origin(self, name: str) -> str:
        """Where dlt read setting ``name`` of this resolved spec (its lookup traces), for an
        error the setting's value causes: ``SOURCES__MEGA__API_TOKEN (read from …)``."""
        variable = self.checks.setting_name(name)
        traces = get_resolved_traces().resolved_traces
        trace = next((t for t in reversed(traces) if t.config is self and t.key == name), None)
        if trace is None:
            where = "given to run() or on the command line"
        elif (path := provider_file(trace.provider_name)) is not None:
            where = f"read from {path}"
        elif trace.provider_location:
            where = f"read from {trace.provider_location}"
        elif trace.provider_name == "Environment Variables":
            where = "read from the environment"
        else:
            where = f"read from {trace.provider_name}"
        return f"{variable} ({where})"

    @classmethod
    def sections(cls) -> tuple[str, ...]:
        """Where dlt looks: a source's ``[sources.<name>]`` (dlt's source layout, as the
        ``@dlt.source`` reads it), a push target's ``[destination.<name>]``."""
        if cls.__kind__ == "sources":
            return (cls.__kind__, cls.__setting_section__, cls.__setting_section__)
        return (cls.__kind__, cls.__setting_section__)


@configspec
class HttpSettings(ConnectorSettings):
    connect_timeout: float = CONNECT_TIMEOUT_S
    read_timeout: float = READ_TIMEOUT_S
    max_retries: int = DEFAULT_RETRY.max_retries
    backoff_base: float = DEFAULT_RETRY.backoff_base_s
    backoff_max: float = DEFAULT_RETRY.backoff_max_s
    retry_after_max: float = DEFAULT_RETRY.retry_after_max_s
    max_retry_time: float = DEFAULT_RETRY.max_retry_time_s
    # Pause when RateLimit-Remaining falls to this; raised to the requests a run has in flight.
    rate_limit_reserve: int = DEFAULT_RESERVE

    def on_resolved(self) -> None:
        checks = self.checks
        self.connect_timeout = checks.seconds(self.connect_timeout, "connect_timeout")
        self.read_timeout = checks.seconds(self.read_timeout, "read_timeout")
        self.max_retries = checks.whole_number(self.max_retries, "max_retries", 0, 100)
        for name in ("backoff_base", "backoff_max", "retry_after_max", "max_retry_time"):
            setattr(self, name, checks.seconds(getattr(self, name), name, zero_ok=True))
        self.rate_limit_reserve = checks.whole_number(
            self.rate_limit_reserve, "rate_limit_reserve", 0
        )

    @property
    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.read_timeout, connect=self.connect_timeout, write=WRITE_TIMEOUT_S)

    def retry_policy(self, policy: RetryPolicy) -> RetryPolicy:
        """``policy`` (the API's named one) with these settings."""
        return replace(
            policy,
            max_retries=self.max_retries,
            backoff_base_s=self.backoff_base,
            backoff_max_s=self.backoff_max,
            retry_after_max_s=self.retry_after_max,
            max_retry_time_s=self.max_retry_time,
        )


@configspec
class ApiSettings(HttpSettings):
    """Where an API is and the token it takes; a spec whose API has a public address
    declares it as ``base_url``'s default."""

    api_token: TSecretStrValue | None = None
    base_url: str | None = None

    def on_resolved(self) -> None:
        checks = self.checks
        self.base_url = check_base_url(
            checks.require(self.base_url, "base_url"), checks.setting_name("base_url")
        )
        self.api_token = checks.require(self.api_token, "api_token", secret=True)

    def client_options(
        self,
        policy: RetryPolicy,
        stats: ClientStats,
        sleep: Callable[[float], None] = time.sleep,
        in_flight: int = 0,
    ) -> dict[str, Any]:
        """What a client of this API takes from these settings: timeouts, ``policy`` (the API's
        named retry rules) with these settings, the setting a refused connection names, and one
        pacer (one rate-limit budget) for all the requests of a run, keeping at least the
        ``in_flight`` ones sent at once in reserve; ``sleep`` waits (a run's ends at Ctrl-C)."""
        retry = self.retry_policy(policy)
        reserve = max(self.rate_limit_reserve, in_flight)
        return {
            "timeout": self.timeout,
            "retry": retry,
            "pacer": RateLimitPacer.for_run(reserve, retry.retry_after_max_s, stats, sleep),
            "stats": stats,
            "sleep": sleep,
            "base_url_setting": self.checks.setting_name("base_url"),
        }


@configspec
class SweepSettings(ConnectorSettings):
    """A checkpoint (one committed load) ends after this many pages or seconds, whichever
    first: a crash re-fetches at most that much; fewer, larger loads cost less dlt overhead.
    Each source declares its own defaults."""

    checkpoint_pages: int = setting(None, Flag(help="commit data + state every N pages"))
    checkpoint_seconds: float = 60.0
    prefetch_pages: int = setting(None)  # pages fetched ahead while earlier ones are written

    # The list the sweep pages through: its fixed parameters (each source's endpoint.py).
    __keyset__: ClassVar[Keyset]

    @property
    def filters(self) -> Any:
        """The stream's filters (each source's): ``query_params()``, ``stream_key``,
        ``describe()``."""
        raise NotImplementedError

    def open_client(self, stats: ClientStats, sleep: Callable[[float], None]) -> Any:
        """The run's client of the source's API (one rate-limit budget)."""
        raise NotImplementedError

    def stream_options(self) -> dict[str, Any]:
        """What every sweep's options take from the settings: the stream (the list's fixed
        parameters and the filters) and when a checkpoint ends."""
        filters = self.filters
        return {
            "params": {**self.__keyset__.params, **filters.query_params()},
            "stream_key": filters.stream_key,
            "filters": filters.describe(),
            "checkpoint_pages": self.checkpoint_pages,
            "checkpoint_seconds": self.checkpoint_seconds,
            "prefetch_pages": self.prefetch_pages,
        }

    def holds_any_lead(self) -> bool:
        """One unfiltered request for one item: does the API hold any?"""
        with self.open_client(ClientStats(), time.sleep) as client:
            return holds_any_item(self.__keyset__, client)

    def on_resolved(self) -> None:
        checks = self.checks
        self.checkpoint_pages = checks.whole_number(self.checkpoint_pages, "checkpoint_pages", 1)
        self.checkpoint_seconds = checks.seconds(self.checkpoint_seconds, "checkpoint_seconds")
        self.prefetch_pages = checks.whole_number(self.prefetch_pages, "prefetch_pages", 0, 1000)


@configspec
class PersonalDataSettings(ConnectorSettings):
    """``pii``: rules per personal-data column (``__pii_columns__``); ``pii_key``: the hash key."""

    __pii_columns__: ClassVar[Sequence[str]] = ()

    pii: str | None = setting(
        flag=Flag(
            metavar="RULES",
            help="personal data: column=hash|drop,… ({pii_columns}); the key for hashes is the "
            "pii_key secret",
        )
    )
    pii_key: TSecretStrValue | None = None

    def on_resolved(self) -> None:
        policy = self.pii_policy()  # a bad rule fails here, before anything runs
        # Decided: warned on every run, not refused (a keyless hash is still a valid choice).
        if policy.key is None and "hash" in policy.rules.values():
            log.warning(
                "pii: without a key a hash is plain SHA-256 of the value, which a list of likely "
                "values reverses; set the secret %s",
                self.checks.setting_name("pii_key"),
            )

    def pii_policy(self) -> PiiPolicy:
        return PiiPolicy.parse(
            self.pii, self.pii_key, self.__pii_columns__, self.checks.setting_name("pii")
        )


def flags(spec: type[BaseConfiguration]) -> list[tuple[str, Any, Flag]]:
    """The settings of ``spec`` that are command-line options: (name, type, flag). A spec that
    redeclares a shared setting (its own default) keeps the shared spec's flag."""
    found = []
    for name, hint in spec.get_resolvable_fields().items():
        flag = next(
            (
                declared.metadata["flag"]
                for cls in spec.__mro__
                if (declared := getattr(cls, "__dataclass_fields__", {}).get(name)) is not None
                and "flag" in declared.metadata
            ),
            None,
        )
        if flag is not None:
            found.append((name, hint, flag))
    return found


def setting_names(spec: type[BaseConfiguration]) -> tuple[str, ...]:
    """Every setting ``spec`` declares (not dlt's own fields of a destination's spec): what
    ``run()`` accepts and ``config.toml`` lists."""
    dlt_fields = {
        name
        for cls in spec.__mro__
        if cls.__module__.startswith("dlt.")
        for name in getattr(cls, "__dataclass_fields__", {})
    }
    return tuple(name for name in spec.get_resolvable_fields() if name not in dlt_fields)


def resolve_settings(
    spec: type[Spec], given: Mapping[str, Any], account: str | None = None
) -> Spec:
    """``spec`` resolved from ``given`` (``None``: not given) and dlt config, and checked;
    ``account``: one of several, whose section ``[<kind>.<section>.accounts.<account>]`` comes
    first and must hold its own ``__account_settings__``."""
    unknown = set(given) - set(setting_names(spec))
    if unknown:
        raise ConfigurationError(
            f"unknown source option(s): {', '.join(sorted(unknown))}; known: "
            f"{', '.join(setting_names(spec))}"
        )
    explicit = {key: value for key, value in given.items() if value is not None}
    settings = spec()
    sections = spec.sections()
    if account is not None:
        # A push target's rows are the ones it is given; a source's sweep reads its table.
        if spec.__kind__ == "sources" and spec.__tenant_column__ is None:
            raise ConfigurationError(
                f"[{spec.__kind__}.{spec.__setting_section__}.accounts.{account}]: this source "
                "runs one account per dataset for now (its sweep judges deletes against every "
                "row of the table): give each account a dataset of its own instead"
            )
        settings.__dict__["_account"] = account
        sections = (spec.__kind__, spec.__setting_section__, "accounts", account)
    try:
        resolved = resolve_configuration(settings, sections=sections, explicit_value=explicit)
    except ConfigValueCannotBeCoercedException as exc:
        raise ConfigurationError(
            f"{exc.field_name} must be {_KIND.get(exc.hint, 'a valid value')}, got "
            f"{exc.field_value!r} (setting {settings.checks.setting_name(exc.field_name)})"
        ) from None
    if account is not None:
        _require_own(resolved, sections)
    return resolved


def _require_own(settings: ConnectorSettings, sections: tuple[str, ...]) -> None:
    """An account's credentials and tenant read from its own section, never inherited from the
    single account's (which would load that account's data under this one's name)."""
    traces = get_resolved_traces().resolved_traces
    for name in settings.__account_settings__:
        trace = next((t for t in reversed(traces) if t.config is settings and t.key == name), None)
        if getattr(settings, name) is None or (
            trace is not None and tuple(trace.sections) != sections
        ):
            single = SettingChecks(settings.__setting_section__, settings.__kind__)
            raise ConfigurationError(
                f"{settings.checks.setting_name(name)} is required: each account sets its own "
                f"(not {single.setting_name(name)}, the single account's)"
            )
