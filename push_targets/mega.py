"""MEGA's create endpoint as a push target: ``POST /api/agents/crm/leads`` (seed 000).

Create-only: MEGA may merge a create into an existing lead by email or phone-last-10 and answers
201 either way; a merge is recognised by the answer's `created_at` differing from its
`updated_at` (a fresh lead has them equal) and reported as ``merged`` with the lead's id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import dlt
from dlt.common.configuration.specs import configspec

from sources.mega import settings as mega_settings
from sources.mega.client import RETRY, MegaClient
from sources.mega.config import customer_uuid

from .core import validate as check
from .core.ledger import Entry
from .core.push import Rejected, Sent
from .core.rows import filled, mapped
from .core.settings import PushSettings
from .core.sink import push_batch
from .core.target import ApiTarget

NAME = "mega"
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


@configspec
class MegaTargetSettings(PushSettings):
    """``[destination.mega]``: MEGA's address and token, and the customer to create leads for."""

    __setting_section__: ClassVar[str] = NAME
    __target_fields__: ClassVar[tuple[str, ...]] = FIELDS
    # Each account of several names its own customer (000: the token is locked to one).
    __account_settings__: ClassVar[tuple[str, ...]] = ("api_token", "customer_id")

    base_url: str | None = mega_settings.DEFAULT_BASE_URL
    customer_id: str | None = None

    @property
    def ledger_account(self) -> str:
        return str(self.customer_id)

    def on_resolved(self) -> None:
        self.customer_id = customer_uuid(
            self.checks.require(self.customer_id, "customer_id"),
            self.checks.setting_name("customer_id"),
        )


class MegaTarget(ApiTarget):
    name = NAME
    retry = RETRY
    config: MegaTargetSettings

    def open_client(self, **http_options: Any) -> MegaClient:
        config = self.config
        return MegaClient(str(config.base_url), str(config.api_token), self.account, **http_options)

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


@dlt.destination(
    name=NAME, batch_size=200, skip_dlt_columns_and_tables=True, spec=MegaTargetSettings
)
def mega(
    items: Any, table: Any, settings: MegaTargetSettings = dlt.config.value, **given: Any
) -> None:
    """Rows of any dlt pipeline created as MEGA leads: ``run(rows, destination=mega())``.
    ``given`` (to the factory, as ``mega(field_map=…)``): any ``MegaTargetSettings``; dlt
    resolves them with config into ``settings``."""
    target = MegaTarget(settings, settings.concurrency)
    push_batch(
        target, items, table, settings.key_column, settings.ledger_path, settings.concurrency
    )
