"""Leads already in the CRM when the CLI starts (``serve --leads N``): deterministic per
seed, created through the store as POST would create them.

Their e-mail addresses are under ``.apollo-sim.example`` with a running number, so they
never collide with each other nor with leads a connector sends (which would be 409
``duplicate_lead``).
"""

from __future__ import annotations

import random

from .schema import DEFAULT_ORGANIZATION_ID
from .store import ApolloStore

_FIRST = ("Ana", "Bruno", "Carla", "Diego", "Elisa", "Fabio", "Gabriela", "Heitor", "Isabela")
_LAST = ("Silva", "Souza", "Oliveira", "Santos", "Pereira", "Costa", "Almeida", "Ribeiro")
_COMPANIES = ("Acme Ltda", "Solaris", "Nova Energia", "Grupo Horizonte", "Vale Verde", None)
_TAGS = ("inbound", "evento", "indicação", "site", "parceiro")


def seed_leads(
    store: ApolloStore, n: int, seed: int = 0, organization_id: str = DEFAULT_ORGANIZATION_ID
) -> None:
    """Create ``n`` leads in ``organization_id``, spread over its pipelines."""
    rng = random.Random(seed)
    pipelines = [p["id"] for p in store.pipelines(organization_id)]
    for i in range(n):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        fields: dict[str, object] = {
            "contact_name": f"{first} {last}",
            "pipeline_id": rng.choice(pipelines),
            "email": f"{first.lower()}.{last.lower()}.{seed}.{i}@apollo-sim.example",
            "tags": rng.sample(_TAGS, rng.randrange(3)),
        }
        company = rng.choice(_COMPANIES)
        if company is not None:
            fields["company_name"] = company
        if rng.random() < 0.6:
            fields["phone"] = f"+55119{rng.randrange(10**8):08d}"
        if rng.random() < 0.5:
            fields["value_cents"] = rng.randrange(10_000, 5_000_000)
        store.create(organization_id, **fields)
