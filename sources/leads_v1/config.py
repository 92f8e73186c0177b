"""The source's settings, declared once (a dlt spec, checked when resolved), and the stream
identity derived from the filters."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import ClassVar

from dlt.common.configuration.specs import configspec

from sources.core.endpoint import DetailEndpoint, Keyset
from sources.core.errors import ConfigurationError
from sources.core.pacing import ClientStats
from sources.core.settings import ApiSettings, Flag, PersonalDataSettings, SweepSettings, setting
from sources.core.sweep.options import DetailOptions

from .client import RETRY, LeadsV1Client
from .endpoint import LEADS_KEYSET, PII_COLUMNS, leads_endpoint

DELETE_MODES = ("soft", "hard")
MAX_DETAIL_CONCURRENCY = 64


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


def flag(value: object, name: str, setting_name: str) -> bool:
    """A yes/no setting: a bool, or true/false/1/0/yes/no as text (env vars)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise ConfigurationError(
        f"{name} must be true or false, got {value!r} (setting {setting_name})"
    )


_FILTER = "filters"


@configspec
class LeadsV1Settings(ApiSettings, SweepSettings, PersonalDataSettings):
    """Every setting of the ``leads_v1`` source: ``[sources.leads_v1]`` or
    ``SOURCES__LEADS_V1__<NAME>``. 004 names no product, hence no public address: ``base_url``
    is required."""

    __setting_section__: ClassVar[str] = "leads_v1"
    __pii_columns__: ClassVar[tuple[str, ...]] = PII_COLUMNS
    __keyset__: ClassVar[Keyset] = LEADS_KEYSET
    # A token is bound to one organization (004), which every lead names: each account of
    # several says which, so that its sweep judges deletes among its own rows only.
    __account_settings__: ClassVar[tuple[str, ...]] = ("api_token", "organization_id")
    __tenant_column__: ClassVar[str | None] = "organization_id"

    # Several accounts: the organization the account's token is bound to (required there).
    organization_id: str | None = None

    pipeline_stage: str | None = setting(flag=Flag(group=_FILTER))
    source: str | None = setting(flag=Flag(group=_FILTER))
    new_only: bool = setting(
        False,
        Flag(
            switch=True,
            help="list only leads created since the last mark (cheap; misses updates and "
            "deletes of older leads: run a full sweep too, e.g. nightly)",
        ),
    )
    delete_mode: str = setting(
        "soft",
        Flag(
            choices=DELETE_MODES,
            help="leads gone at the source: set _deleted_at (soft, default) or remove the rows",
        ),
    )
    # Detail requests in flight (they share one rate-limit budget).
    detail_concurrency: int = setting(8, Flag(help="detail requests in flight (default 8)"))
    checkpoint_pages: int = 25
    # List pages fetched ahead while the details of the current one are fetched.
    prefetch_pages: int = 2

    def on_resolved(self) -> None:
        checks = self.checks
        if self.delete_mode not in DELETE_MODES:
            raise ConfigurationError(
                f"delete_mode must be 'soft' or 'hard', got {self.delete_mode!r} "
                f"(setting {checks.setting_name('delete_mode')})"
            )
        self.detail_concurrency = checks.whole_number(
            self.detail_concurrency, "detail_concurrency", 1, MAX_DETAIL_CONCURRENCY
        )
        self.new_only = flag(self.new_only, "new_only", checks.setting_name("new_only"))
        # Each detail request in flight may be sent when the quota runs low.
        self.rate_limit_reserve = max(self.rate_limit_reserve, self.detail_concurrency)

    @property
    def filters(self) -> Filters:
        return Filters(pipeline_stage=self.pipeline_stage or None, source=self.source or None)

    def endpoint(self) -> DetailEndpoint:
        return leads_endpoint(self.pii_policy())

    def sweep_options(self) -> DetailOptions:
        return DetailOptions(
            **self.stream_options(),
            new_only=self.new_only,
            concurrency=self.detail_concurrency,
            delete_mode=self.delete_mode,
        )

    def open_client(self, stats: ClientStats, sleep: Callable[[float], None]) -> LeadsV1Client:
        """The run's client: one rate-limit budget for every detail request in flight."""
        return LeadsV1Client(
            str(self.base_url),  # both checked when resolved
            str(self.api_token),
            **self.client_options(RETRY, stats, sleep),
        )


# The runners' name for a resolved source config.
SourceConfig = LeadsV1Settings
