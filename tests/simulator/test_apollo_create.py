"""The Apollo simulator's POST /v1/leads over real loopback HTTP: the 201 Lead in its
pipeline's default stage, each rule of the doc's request schema (a 400 naming the field),
pipelines of another organization, duplicate e-mails, Idempotency-Key replay and conflict,
and the in-process store tests use."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from simulators.apollo import (
    DEFAULT_ORGANIZATION_ID,
    DEFAULT_PIPELINE_ID,
    LEAD_FIELDS,
    OTHER_ORGANIZATION_ID,
    OTHER_PIPELINE_ID,
    SECOND_PIPELINE_ID,
    ApiError,
    ApolloServer,
    ApolloStore,
    ManualClock,
    issue_token,
)
from simulators.core.clock import format_ts
from tests.simulator.apollo_api import LEADS, START, as_token, assert_error, lead_body

Fresh = tuple[ApolloServer, httpx.Client]
OWNER = "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
FULL = {
    "contact_name": "Maria Oliveira",
    "company_name": "Solar Nordeste Ltda",
    "email": "maria@solarnordeste.com.br",
    "phone": "+5581987654321",
    "pipeline_id": DEFAULT_PIPELINE_ID,
    "owner_id": OWNER,
    "tags": ["inbound", "evento"],
    "value_cents": 1_250_000,
}
BOTH_ORGS = issue_token(
    [DEFAULT_ORGANIZATION_ID, OTHER_ORGANIZATION_ID], datetime(2099, 1, 1, tzinfo=START.tzinfo)
)


def test_create_answers_the_lead_in_the_pipelines_default_stage(apollo_fresh: Fresh) -> None:
    server, c = apollo_fresh
    now = format_ts(START)  # the manual clock's first readings are START + a few ms

    response = c.post(LEADS, json=FULL)

    assert response.status_code == 201, response.text
    body = response.json()
    assert tuple(body) == LEAD_FIELDS  # the doc's Lead schema, in its order
    assert {k: body[k] for k in FULL} == FULL
    assert body["stage"] == "novo"
    assert body["created_at"] == body["updated_at"] >= now
    assert body["created_at"].endswith("Z") and len(body["created_at"]) == len(now)
    assert response.headers["Location"] == f"/v1/leads/{body['id']}"
    assert response.request.url.path == "/v1/leads"
    assert server.store.get(body["id"]) == body and server.store.leads() == [body]
    # Only the required fields: the rest are null, tags an empty list.
    minimal = c.post(LEADS, json=lead_body(pipeline_id=SECOND_PIPELINE_ID.upper())).json()
    assert minimal["stage"] == "prospeccao" and minimal["pipeline_id"] == SECOND_PIPELINE_ID
    assert minimal["tags"] == [] and minimal["email"] is None and minimal["company_name"] is None
    assert minimal["owner_id"] is None and minimal["value_cents"] is None
    assert [lead["id"] for lead in server.store.leads()] == [body["id"], minimal["id"]]
    # Boundaries the schema allows.
    edge = lead_body(contact_name="x" * 200, company_name="", value_cents=-5, phone="+12", tags=[])
    assert c.post(LEADS, json=edge).status_code == 201
    assert len(server.store) == 3


@pytest.mark.parametrize(
    ("payload", "mentions"),
    [
        ({"pipeline_id": DEFAULT_PIPELINE_ID}, "contact_name"),
        ({"contact_name": "Ana"}, "pipeline_id"),
        (lead_body(contact_name=""), "contact_name"),
        (lead_body(contact_name="x" * 201), "contact_name"),
        (lead_body(contact_name=5), "contact_name"),
        (lead_body(contact_name=None), "contact_name"),
        (lead_body(company_name="x" * 201), "company_name"),
        (lead_body(company_name=["Acme"]), "company_name"),
        (lead_body(company_name=None), "company_name"),
        (lead_body(email="not-an-email"), "email"),
        (lead_body(email="ana@example"), "email"),
        (lead_body(email=""), "email"),
        (lead_body(email=42), "email"),
        (lead_body(phone="81987654321"), "phone"),
        (lead_body(phone="+0811234567"), "phone"),
        (lead_body(phone="+55 81 98765-4321"), "phone"),
        (lead_body(phone="+1234567890123456"), "phone"),  # 16 digits
        (lead_body(phone=5581987654321), "phone"),
        (lead_body(pipeline_id="vendas"), "pipeline_id"),
        (lead_body(pipeline_id=DEFAULT_PIPELINE_ID.replace("-", "")), "pipeline_id"),
        (lead_body(pipeline_id=7), "pipeline_id"),
        (lead_body(owner_id="joao"), "owner_id"),
        (lead_body(owner_id=None), "owner_id"),
        (lead_body(tags="inbound"), "tags"),
        (lead_body(tags=["ok", 1]), "tags"),
        (lead_body(tags=None), "tags"),
        (lead_body(value_cents=12.5), "value_cents"),
        (lead_body(value_cents=10.0), "value_cents"),
        (lead_body(value_cents="1000"), "value_cents"),
        (lead_body(value_cents=True), "value_cents"),
        (lead_body(stage="ganho"), "stage"),
        (lead_body(id=OWNER), "id"),
        (lead_body(contactName="Ana", valor=1), "contactName, valor"),
    ],
)
def test_each_schema_rule_is_a_400_naming_the_field(
    apollo_fresh: Fresh, payload: dict[str, Any], mentions: str
) -> None:
    server, c = apollo_fresh
    message = assert_error(c.post(LEADS, json=payload), 400, "validation_error")
    assert mentions in message
    assert len(server.store) == 0


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'"a string"', b"{", b"null"])
def test_a_body_that_is_not_a_json_object_is_invalid_request(
    apollo_fresh: Fresh, body: bytes
) -> None:
    _, c = apollo_fresh
    response = c.post(LEADS, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_request")


def test_a_pipeline_must_be_the_organizations(apollo_fresh: Fresh) -> None:
    server, c = apollo_fresh
    for pipeline_id in (OTHER_PIPELINE_ID, "00000000-0000-4000-8000-000000000000"):
        response = c.post(LEADS, json=lead_body(pipeline_id=pipeline_id))
        assert "pipeline_id" in assert_error(response, 400, "pipeline_not_found")
    as_other = as_token(BOTH_ORGS, OTHER_ORGANIZATION_ID)
    refused = c.post(LEADS, json=lead_body(), headers=as_other)  # the default org's pipeline
    assert_error(refused, 400, "pipeline_not_found")
    created = c.post(LEADS, json=lead_body(pipeline_id=OTHER_PIPELINE_ID), headers=as_other)
    assert created.status_code == 201 and created.json()["stage"] == "entrada"
    assert len(server.store) == 0 and server.store.leads(OTHER_ORGANIZATION_ID) == [created.json()]


def test_a_known_email_is_a_409_duplicate_lead(apollo_fresh: Fresh) -> None:
    server, c = apollo_fresh
    first = c.post(LEADS, json=lead_body(email="Ana.Souza@Example.com"))
    assert first.status_code == 201
    for email in ("Ana.Souza@Example.com", "ana.souza@example.com", "ANA.SOUZA@EXAMPLE.COM"):
        again = c.post(LEADS, json=lead_body(email=email, contact_name="Outra Ana"))
        assert first.json()["id"] in assert_error(again, 409, "duplicate_lead")
    # Leads without an e-mail never conflict; another organization's addresses are its own.
    assert all(c.post(LEADS, json=lead_body()).status_code == 201 for _ in range(2))
    as_other = as_token(BOTH_ORGS, OTHER_ORGANIZATION_ID)
    other = lead_body(email="ana.souza@example.com", pipeline_id=OTHER_PIPELINE_ID)
    assert c.post(LEADS, json=other, headers=as_other).status_code == 201
    # A lead put in the store by a test conflicts just the same.
    server.store.create(contact_name="Bia", pipeline_id=SECOND_PIPELINE_ID, email="bia@x.io")
    assert_error(c.post(LEADS, json=lead_body(email="BIA@x.io")), 409, "duplicate_lead")
    assert len(server.store) == 4


def test_idempotency_key_replays_the_201_and_conflicts_on_another_body(
    apollo_fresh: Fresh,
) -> None:
    server, c = apollo_fresh
    key = {"Idempotency-Key": "3d0f6b1e-8a2c-4f4e-9b7d-1c2e3f4a5b6c"}

    first = c.post(LEADS, json=FULL, headers=key)
    # Same JSON, other key order: the same request.
    again = c.post(LEADS, json=dict(reversed(FULL.items())), headers=key)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert "Idempotent-Replayed" not in first.headers
    assert len(server.store) == 1
    conflict = c.post(LEADS, json={**FULL, "value_cents": 1}, headers=key)
    assert "Idempotency-Key" in assert_error(conflict, 409, "idempotency_conflict")
    # Keys are per organization: the other one's same key is its own create.
    as_other = {**key, **as_token(BOTH_ORGS, OTHER_ORGANIZATION_ID)}
    other = c.post(LEADS, json={**FULL, "pipeline_id": OTHER_PIPELINE_ID}, headers=as_other)
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    # A rejected request is not remembered: the corrected retry may reuse its key.
    retry = {"Idempotency-Key": "retry-after-fix"}
    assert c.post(LEADS, json=lead_body(phone="123"), headers=retry).status_code == 400
    assert c.post(LEADS, json=lead_body(phone="+5511912345678"), headers=retry).status_code == 201
    assert len(server.store) == 2
    assert [r.idempotency_key for r in server.requests[:2]] == [key["Idempotency-Key"]] * 2
    assert server.requests[0].customer_id == DEFAULT_ORGANIZATION_ID


def test_store_api() -> None:
    store = ApolloStore(ManualClock(START))
    assert [p["id"] for p in store.pipelines()] == [DEFAULT_PIPELINE_ID, SECOND_PIPELINE_ID]
    assert store.pipelines()[0] == {
        "id": DEFAULT_PIPELINE_ID,
        "name": "Vendas",
        "default_stage": "novo",
    }
    assert [p["id"] for p in store.pipelines(OTHER_ORGANIZATION_ID)] == [OTHER_PIPELINE_ID]
    a = store.create(contact_name="A", pipeline_id=DEFAULT_PIPELINE_ID, tags=["x"])
    assert a["created_at"] == format_ts(START) and a["stage"] == "novo"
    a["tags"].append("mutated")  # records handed out are copies
    assert store.get(a["id"]) == {**a, "tags": ["x"]} and store.get("nope") is None
    third = "11111111-2222-4333-8444-555555555555"
    pipeline = store.add_pipeline(third, "Pós-venda", "onboarding")
    b = store.create(third, contact_name="B", pipeline_id=pipeline["id"])
    assert b["stage"] == "onboarding" and store.leads(third) == [b]
    assert store.leads() == [store.get(a["id"])] and len(store) == 1
    with pytest.raises(ApiError) as bad:
        store.create(contact_name="", pipeline_id=DEFAULT_PIPELINE_ID)
    assert bad.value.status == 400 and bad.value.error_type == "validation_error"
    with pytest.raises(ApiError) as elsewhere:
        store.create(contact_name="C", pipeline_id=OTHER_PIPELINE_ID)
    assert elsewhere.value.error_type == "pipeline_not_found"
    with pytest.raises(ValueError):
        store.add_pipeline(third, "Again", "x", pipeline["id"])
    with pytest.raises(ValueError):
        store.add_pipeline("not-a-uuid", "X", "x")
