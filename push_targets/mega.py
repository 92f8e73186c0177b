"""MEGA's create endpoint as a push target: ``POST /api/agents/crm/leads`` (seed 000).

Create-only: MEGA may merge a create into an existing lead by email or phone-last-10 and answers
201 either way; a merge is recognised by the answer's `created_at` differing from its
`updated_at` (a fresh lead has them equal) and reported as ``merged`` with the lead's id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dlt
from dlt.common.configuration.inject import with_config

from sources.core.config_checks import SettingChecks
from sources.core.pacing import ClientStats, RateLimitPacer
from sources.mega import settings as mega_settings
from sources.mega.client import MegaClient, check_base_url
from sources.mega.config import customer_uuid

from .core import validate as check
from .core.ledger import Entry
from .core.push import Rejected, Sent
from .core.rows import filled, mapped, parse_mapping
from .core.sink import push_batch

NAME = "mega"
CHECKS = SettingChecks(NAME, kind="destination")
FIELDS = (
    "contact_name",
    "contact_phone",
    "contact_email",
    "source_platform",
    "source_type",
    "stage_slug",
    "custom_fields",
)
CONTACT = ("contact_name", "contact_phone", "contact_email")
# 000's enums.
SOURCE_PLATFORMS = (
    "google_ads", "meta_ads", "google_organic", "direct", "referral", "hubspot", "zoho", "ghl",
    "shopify", "zenmaid", "lead_docket", "salesforce",
)  # fmt: skip
SOURCE_TYPES = ("form", "phone_call", "email", "chat", "sms", "manual", "import")


@dataclass(frozen=True)
class MegaTargetConfig:
    base_url: str
    api_token: str = field(repr=False)
    customer_id: str
    mapping: Mapping[str, str] = field(default_factory=dict)


def _settings(
    api_token: str | None = dlt.secrets.value,
    customer_id: str | None = dlt.config.value,
    base_url: str = mega_settings.DEFAULT_BASE_URL,
    field_map: str | None = None,
) -> MegaTargetConfig:
    """Also ``[destination.mega]`` settings / ``DESTINATION__MEGA__<NAME>``."""
    return MegaTargetConfig(
        base_url=check_base_url(base_url),
        api_token=CHECKS.require(api_token, "api_token", secret=True),
        customer_id=customer_uuid(CHECKS.require(customer_id, "customer_id")),
        mapping=parse_mapping(field_map, FIELDS),
    )


resolve_config = with_config(_settings, sections=("destination", NAME))


class MegaTarget:
    name = NAME
    upsert = False

    def __init__(self, config: MegaTargetConfig, in_flight: int = 1) -> None:
        """``in_flight``: requests sent at once; the pacer keeps that many in reserve."""
        self.config = config
        self.mapping = config.mapping
        self.required: dict[str, str] = {}  # no one field every row needs
        self.account = config.customer_id
        self.stats = ClientStats()
        pacer = RateLimitPacer(reserve=max(1, in_flight), stats=self.stats)
        self._client = MegaClient(
            config.base_url, config.api_token, config.customer_id, stats=self.stats, pacer=pacer
        )

    def close(self) -> None:
        self._client.close()

    def payload(self, row: Mapping[str, Any]) -> dict[str, Any]:
        values = filled(mapped(row, self.config.mapping, FIELDS))
        payload: dict[str, Any] = {}
        for name in ("contact_name", "contact_phone", "stage_slug"):
            if name in values:
                payload[name] = check.text(values[name], name).strip()
        if "contact_email" in values:
            payload["contact_email"] = check.email(values["contact_email"], "contact_email")
        if "source_platform" in values:
            payload["source_platform"] = check.one_of(
                values["source_platform"], "source_platform", SOURCE_PLATFORMS
            )
        if "source_type" in values:
            payload["source_type"] = check.one_of(
                values["source_type"], "source_type", SOURCE_TYPES
            )
        if "custom_fields" in values:
            payload["custom_fields"] = _custom_fields(values["custom_fields"])
        if not any(payload.get(name) for name in CONTACT):
            raise Rejected("one of contact_name, contact_phone, contact_email is required (000)")
        return payload

    def send(
        self, payload: dict[str, Any], key: str, entry: Entry | None, changed: dict[str, Any]
    ) -> Sent:
        lead = self._client.create_lead(payload, idempotency_key=key)
        merged = lead.get("created_at") != lead.get("updated_at")
        return Sent("merged" if merged else "created", str(lead.get("id")))


def _custom_fields(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Rejected("custom_fields must be an object of slug -> value")
    for slug, item in value.items():
        if item is not None and not isinstance(item, str | int | float | bool):
            raise Rejected(f"custom field {slug} must be a string, number, boolean or null")
    return dict(value)


@dlt.destination(name=NAME, batch_size=200, skip_dlt_columns_and_tables=True)
def mega(
    items: Any,
    table: Any,
    api_token: str = dlt.secrets.value,
    customer_id: str = dlt.config.value,
    base_url: str = mega_settings.DEFAULT_BASE_URL,
    field_map: str | None = None,
    key_column: str = "id",
    concurrency: int = 8,
    ledger_path: str = "push_ledger.duckdb",
) -> None:
    """Rows of any dlt pipeline created as MEGA leads: ``run(rows, destination=mega())``."""
    config = _settings(api_token, customer_id, base_url, field_map)
    push_batch(MegaTarget(config, concurrency), items, table, key_column, ledger_path, concurrency)
