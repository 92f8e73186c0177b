"""The Leads v1 API's write endpoints as a push target (seed 004): an upsert. A row with no
remote id in the ledger is created (``POST /api/v1/leads``); a row created before whose content
changed is updated with ``PATCH /api/v1/leads/{id}``, sending only the whitelisted fields whose
value changed (told from the ledger's per-field hashes: the ledger never keeps values). A field
the row holds empty (NULL, '') is cleared: sent as null; a field whose column the row lacks is
left as it is at the target."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dlt
from dlt.common.configuration.inject import with_config

from sources.core.config_checks import SettingChecks
from sources.core.connect import check_base_url
from sources.core.errors import NotFoundError
from sources.core.pacing import ClientStats, RateLimitPacer
from sources.leads_v1.client import BASE_URL_SETTING, LeadsV1Client

from .core import validate as check
from .core.ledger import Entry
from .core.push import Rejected, Sent
from .core.rows import filled, mapped, parse_mapping
from .core.sink import push_batch

NAME = "leads_v1"
CHECKS = SettingChecks(NAME, kind="destination")
# 004's PATCH whitelist; create accepts the same fields.
FIELDS = (
    "name",
    "company",
    "email",
    "source",
    "lead_score",
    "pipeline_stage",
    "industry",
    "company_size",
    "pain_points",
    "timeline",
    "budget_range",
    "ai_reasoning",
)


@dataclass(frozen=True)
class LeadsV1TargetConfig:
    base_url: str
    api_token: str = field(repr=False)
    # Whose leads: the token is bound to one organization, whose id 004's create answer carries
    # but the push needs before it; by default the API's address stands for it.
    account: str
    mapping: Mapping[str, str] = field(default_factory=dict)


def _settings(
    api_token: str | None = dlt.secrets.value,
    base_url: str | None = dlt.config.value,
    organization_id: str | None = None,
    field_map: str | None = None,
) -> LeadsV1TargetConfig:
    """Also ``[destination.leads_v1]`` settings / ``DESTINATION__LEADS_V1__<NAME>``."""
    url = check_base_url(CHECKS.require(base_url, "base_url"), BASE_URL_SETTING)
    return LeadsV1TargetConfig(
        base_url=url,
        api_token=CHECKS.require(api_token, "api_token", secret=True),
        account=organization_id or url,
        mapping=parse_mapping(field_map, FIELDS),
    )


resolve_config = with_config(_settings, sections=("destination", NAME))


class LeadsV1Target:
    name = NAME
    upsert = True

    def __init__(self, config: LeadsV1TargetConfig, in_flight: int = 1) -> None:
        """``in_flight``: requests sent at once; the pacer keeps that many in reserve."""
        self.config = config
        self.mapping = config.mapping
        self.required: dict[str, str] = {}  # no one field every row needs
        self.account = config.account
        self.stats = ClientStats()
        pacer = RateLimitPacer(reserve=max(1, in_flight), stats=self.stats)
        self._client = LeadsV1Client(
            config.base_url, config.api_token, stats=self.stats, pacer=pacer
        )

    def close(self) -> None:
        self._client.close()

    def payload(self, row: Mapping[str, Any]) -> dict[str, Any]:
        values = mapped(row, self.config.mapping, FIELDS)
        payload: dict[str, Any] = {}
        for name, value in values.items():
            if value is None:
                payload[name] = None  # cleared: sent as null by a PATCH
            elif name == "lead_score":
                payload[name] = check.integer(value, name, 0, 100)
            elif name == "email":
                payload[name] = check.email(value)
            else:
                payload[name] = check.text(value, name)
        if not payload.get("email") and not (payload.get("name") and payload.get("company")):
            raise Rejected("an email, or a name and a company, is required (004)")
        return payload

    def send(
        self, payload: dict[str, Any], key: str, entry: Entry | None, changed: dict[str, Any]
    ) -> Sent:
        if entry is None or not entry.remote_id:
            lead = self._client.create_lead(filled(payload), key)
            return Sent("created", str(lead.get("id")))
        if not changed:
            return Sent("unchanged", entry.remote_id)
        try:
            self._client.update_lead(entry.remote_id, changed, key)
        except NotFoundError:
            raise Rejected(f"lead {entry.remote_id} no longer exists at the target") from None
        return Sent("updated", entry.remote_id)


@dlt.destination(name=NAME, batch_size=200, skip_dlt_columns_and_tables=True)
def leads_v1(
    items: Any,
    table: Any,
    api_token: str = dlt.secrets.value,
    base_url: str = dlt.config.value,
    organization_id: str | None = None,
    field_map: str | None = None,
    key_column: str = "id",
    concurrency: int = 8,
    ledger_path: str = "push_ledger.duckdb",
) -> None:
    """Rows of any dlt pipeline upserted as Leads v1 leads (``destination=leads_v1()``)
    (created, or patched when changed)."""
    config = _settings(api_token, base_url, organization_id, field_map)
    push_batch(
        LeadsV1Target(config, concurrency), items, table, key_column, ledger_path, concurrency
    )
