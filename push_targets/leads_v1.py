"""The Leads v1 API's write endpoints as a push target (seed 004): an upsert. A row with no
remote id in the ledger is created (``POST /api/v1/leads``); a row created before whose content
changed is updated with ``PATCH /api/v1/leads/{id}``, sending only the whitelisted fields whose
value changed (told from the ledger's per-field hashes: the ledger never keeps values)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import dlt
from dlt.common.configuration.specs import configspec

from sources.core.errors import NotFoundError
from sources.leads_v1.client import RETRY, LeadsV1Client

from .core import validate as check
from .core.ledger import Entry
from .core.push import Rejected, Sent
from .core.rows import filled, mapped
from .core.settings import PushSettings
from .core.sink import push_batch
from .core.target import ApiTarget

NAME = "leads_v1"
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


@configspec
class LeadsV1TargetSettings(PushSettings):
    """``[destination.leads_v1]``: the API's address (required: 004 names none) and token."""

    __setting_section__: ClassVar[str] = NAME
    __target_fields__: ClassVar[tuple[str, ...]] = FIELDS
    # Several accounts: each names its organization, which keeps its ledger rows apart.
    __account_settings__: ClassVar[tuple[str, ...]] = ("api_token", "organization_id")

    # Whose leads: the token is bound to one organization, whose id 004's create answer carries
    # but the push needs before it; by default the API's address stands for it.
    organization_id: str | None = None

    @property
    def ledger_account(self) -> str:
        """Whose rows in the ledger (and in the Idempotency-Keys)."""
        return self.organization_id or str(self.base_url)


class LeadsV1Target(ApiTarget):
    name = NAME
    upsert = True

    retry = RETRY
    config: LeadsV1TargetSettings

    def open_client(self, **http_options: Any) -> LeadsV1Client:
        return LeadsV1Client(str(self.config.base_url), str(self.config.api_token), **http_options)

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


@dlt.destination(
    name=NAME, batch_size=200, skip_dlt_columns_and_tables=True, spec=LeadsV1TargetSettings
)
def leads_v1(
    items: Any, table: Any, settings: LeadsV1TargetSettings = dlt.config.value, **given: Any
) -> None:
    """Rows of any dlt pipeline upserted as Leads v1 leads (``destination=leads_v1()``)
    (created, or patched when changed).
    ``given`` (to the factory, as ``leads_v1(field_map=…)``): any ``LeadsV1TargetSettings``; dlt
    resolves them with config into ``settings``."""
    target = LeadsV1Target(settings, settings.concurrency)
    push_batch(
        target, items, table, settings.key_column, settings.ledger_path, settings.concurrency
    )
