"""The Apollo Space API's lead as the vendor document (seed 002, "Criar lead", OpenAPI
0.1.0-preview) defines it, its paths, and the organizations and pipelines the simulator knows.
"""

from __future__ import annotations

from typing import Any

Lead = dict[str, Any]
Pipeline = dict[str, str]

# The doc's server is ``https://api.apollospace.ai/v1`` and its path ``/leads``.
API_PREFIX = "/v1"
LEADS_PATH = f"{API_PREFIX}/leads"

# The doc's ``Lead`` schema (the 201 body), in the doc's order.
LEAD_FIELDS: tuple[str, ...] = (
    "id",
    "contact_name",
    "company_name",
    "email",
    "phone",
    "pipeline_id",
    "stage",
    "owner_id",
    "tags",
    "value_cents",
    "created_at",
    "updated_at",
)
# The doc's POST /leads request body properties; ``required: [contact_name, pipeline_id]``.
CREATE_FIELDS: tuple[str, ...] = (
    "contact_name",
    "company_name",
    "email",
    "phone",
    "pipeline_id",
    "owner_id",
    "tags",
    "value_cents",
)
REQUIRED_FIELDS: tuple[str, ...] = ("contact_name", "pipeline_id")
# maxLength of contact_name and company_name in the doc.
MAX_NAME_LENGTH = 200

# Fixed test tenants (the doc shows no example ids). A token lists the organizations it may
# act for; ``X-Organization-Id`` picks the "organização ativa" of a request.
DEFAULT_ORGANIZATION_ID = "5a0c6f1e-8d2b-4c3a-9e7f-1b2d3c4e5f60"
OTHER_ORGANIZATION_ID = "c7d8e9f0-1a2b-4c3d-8e4f-5a6b7c8d9e01"
DEFAULT_PIPELINE_ID = "0f4e2d1c-3b5a-4978-8a6b-c5d4e3f2a1b0"
SECOND_PIPELINE_ID = "2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091"
OTHER_PIPELINE_ID = "9e8d7c6b-5a49-4382-b716-05f4e3d2c1b0"

# "O lead entra no stage default do pipeline informado": each pipeline has a default stage.
# ASSUMPTION: the doc names no pipelines or stage slugs; these Portuguese ones are made up.
PIPELINES: tuple[tuple[str, Pipeline], ...] = (
    (
        DEFAULT_ORGANIZATION_ID,
        {"id": DEFAULT_PIPELINE_ID, "name": "Vendas", "default_stage": "novo"},
    ),
    (
        DEFAULT_ORGANIZATION_ID,
        {"id": SECOND_PIPELINE_ID, "name": "Parcerias", "default_stage": "prospeccao"},
    ),
    (
        OTHER_ORGANIZATION_ID,
        {"id": OTHER_PIPELINE_ID, "name": "Comercial", "default_stage": "entrada"},
    ),
)
