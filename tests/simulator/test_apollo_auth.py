"""Who may create Apollo leads, over real loopback HTTP: the bearer JWT (401 ``unauthorized``,
401 ``token_expired`` by the server's clock), the ``X-Organization-Id`` header (400) and the
token's organizations (403); routing (404, 405); the ``request_id`` of every error."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

import httpx
import orjson
import pytest

from simulators.apollo import (
    DEFAULT_ORGANIZATION_ID,
    DEFAULT_TOKEN,
    OTHER_ORGANIZATION_ID,
    OTHER_PIPELINE_ID,
    ApolloServer,
    InvalidToken,
    ManualClock,
    decode_token,
    issue_token,
)
from tests.simulator.apollo_api import AUTH, LEADS, START, as_token, assert_error, lead_body

Fresh = tuple[ApolloServer, httpx.Client]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def _forged() -> list[str]:
    """Tokens the simulator did not sign as they are."""
    head, payload, signature = DEFAULT_TOKEN.split(".")
    claims = decode_token(DEFAULT_TOKEN)
    widened = {
        "sub": claims.sub,
        "token_use": "id",
        "custom:organizations": [DEFAULT_ORGANIZATION_ID, OTHER_ORGANIZATION_ID],
        "exp": 4_070_908_800,
    }
    return [
        f"{head}.{_b64(widened)}.{signature}",  # another payload under the old signature
        f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",  # unsigned
        f"{head}.{payload}.{'A' * len(signature)}",
        f"{head}.{payload}",
        "not-a-jwt",
        "a.b.c",
    ]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        f"Basic {DEFAULT_TOKEN}",
        DEFAULT_TOKEN,
        *(f"Bearer {token}" for token in _forged()),
        # A Cognito access token is not the id_token the doc asks for.
        "Bearer "
        + issue_token([DEFAULT_ORGANIZATION_ID], START.replace(year=2099), token_use="access"),
    ],
)
def test_a_missing_malformed_or_forged_token_is_401(
    apollo_fresh: Fresh, authorization: str | None
) -> None:
    server, _ = apollo_fresh
    headers = {"X-Organization-Id": DEFAULT_ORGANIZATION_ID}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = httpx.post(server.url + LEADS, json=lead_body(), headers=headers)
    message = assert_error(response, 401, "unauthorized")
    assert DEFAULT_TOKEN not in message
    assert len(server.store) == 0


def test_a_token_expires_by_the_servers_clock() -> None:
    clock = ManualClock(START, step=timedelta(0))
    token = issue_token([DEFAULT_ORGANIZATION_ID], START + timedelta(hours=1))
    with (
        ApolloServer(clock=clock) as server,
        httpx.Client(base_url=server.url, headers=as_token(token)) as c,
    ):
        assert c.post(LEADS, json=lead_body()).status_code == 201
        clock.advance(timedelta(minutes=59, seconds=59))
        assert c.post(LEADS, json=lead_body()).status_code == 201
        clock.advance(timedelta(seconds=1))  # exp itself is already too late (RFC 7519)
        expired = c.post(LEADS, json=lead_body())
        assert "expired" in assert_error(expired, 401, "token_expired").lower()
        # A wrong organization or body does not hide that the token has expired.
        elsewhere = {"X-Organization-Id": OTHER_ORGANIZATION_ID}
        assert_error(c.post(LEADS, json={}, headers=elsewhere), 401, "token_expired")
        assert c.post(LEADS, json=lead_body(), headers=AUTH).status_code == 201  # exp 2099
        assert len(server.store) == 3


def test_the_organization_header_is_required_and_a_uuid(apollo_fresh: Fresh) -> None:
    server, c = apollo_fresh
    bearer = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    missing = httpx.post(server.url + LEADS, json=lead_body(), headers=bearer)
    assert "X-Organization-Id" in assert_error(missing, 400, "invalid_request")
    for value in ("acme", "12345", DEFAULT_ORGANIZATION_ID.replace("-", ""), ""):
        response = c.post(LEADS, json=lead_body(), headers={"X-Organization-Id": value})
        assert "X-Organization-Id" in assert_error(response, 400, "invalid_request")
    upper = c.post(
        LEADS, json=lead_body(), headers={"X-Organization-Id": DEFAULT_ORGANIZATION_ID.upper()}
    )
    assert upper.status_code == 201
    # Authentication comes first: no token, bad header is a 401.
    anonymous = httpx.post(server.url + LEADS, json=lead_body(), headers={"X-Organization-Id": "x"})
    assert_error(anonymous, 401, "unauthorized")


def test_an_organization_the_token_does_not_list_is_403(apollo_fresh: Fresh) -> None:
    server, c = apollo_fresh
    elsewhere = {"X-Organization-Id": OTHER_ORGANIZATION_ID}
    other_body = lead_body(pipeline_id=OTHER_PIPELINE_ID)
    assert_error(c.post(LEADS, json=other_body, headers=elsewhere), 403, "forbidden")
    unknown = {"X-Organization-Id": "00000000-0000-4000-8000-0000000000aa"}
    assert_error(c.post(LEADS, json=other_body, headers=unknown), 403, "forbidden")
    other_token = issue_token([OTHER_ORGANIZATION_ID], START.replace(year=2099))
    response = c.post(LEADS, json=other_body, headers=as_token(other_token, OTHER_ORGANIZATION_ID))
    assert response.status_code == 201
    assert_error(c.post(LEADS, json=lead_body(), headers=as_token(other_token)), 403, "forbidden")
    assert len(server.store) == 0 and len(server.store.leads(OTHER_ORGANIZATION_ID)) == 1


def test_tokens_restricts_the_accepted_jwts() -> None:
    allowed = issue_token([DEFAULT_ORGANIZATION_ID], START.replace(year=2099), sub="robot")
    with ApolloServer(tokens=[allowed]) as server:
        url = server.url + LEADS
        assert httpx.post(url, json=lead_body(), headers=as_token(allowed)).status_code == 201
        assert_error(httpx.post(url, json=lead_body(), headers=AUTH), 401, "unauthorized")
    with pytest.raises(ValueError, match="issue_token"):
        ApolloServer(tokens=["not-a-jwt"])


def test_issued_tokens_decode() -> None:
    expires = datetime(2030, 1, 2, 3, 4, 5)  # naive: UTC
    token = issue_token([OTHER_ORGANIZATION_ID.upper()], expires, sub="u-1")
    claims = decode_token(token)
    assert claims.sub == "u-1" and claims.organization_ids == {OTHER_ORGANIZATION_ID}
    assert claims.expires_at == expires.replace(tzinfo=START.tzinfo).timestamp()
    payload = orjson.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert payload["token_use"] == "id" and set(payload) >= {"sub", "custom:organizations", "exp"}
    default = decode_token(DEFAULT_TOKEN)
    assert default.organization_ids == {DEFAULT_ORGANIZATION_ID}
    assert default.expires_at >= datetime(2099, 1, 1, tzinfo=START.tzinfo).timestamp()
    for forged in _forged():
        with pytest.raises(InvalidToken):
            decode_token(forged)


def test_paths_and_methods(apollo_fresh: Fresh) -> None:
    server, c = apollo_fresh
    assert_error(c.post("/lead", json=lead_body()), 404, "not_found")
    assert_error(
        httpx.post(server.origin + "/leads", json=lead_body(), headers=AUTH), 404, "not_found"
    )
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = c.request(method, LEADS)
        assert_error(response, 405, "method_not_allowed")
        assert response.headers["Allow"] == "POST"
    assert c.post(LEADS + "/", json=lead_body()).status_code == 201


def test_every_answer_has_a_request_id_errors_repeat_it(apollo_fresh: Fresh) -> None:
    server, c = apollo_fresh
    errors = [
        c.post(LEADS, json={}),
        c.post(LEADS, content=b"[]"),
        c.post(LEADS, json=lead_body(), headers={"Authorization": "Bearer x"}),
        c.get(LEADS),
        httpx.get(server.origin + "/_sim/nope"),
    ]
    for response, (status, code) in zip(
        errors,
        [
            (400, "validation_error"),
            (400, "invalid_request"),
            (401, "unauthorized"),
            (405, "method_not_allowed"),
            (404, "not_found"),
        ],
        strict=True,
    ):
        assert_error(response, status, code)
    created = c.post(LEADS, json=lead_body())
    ids = [r.headers["X-Request-Id"] for r in [*errors, created]]
    assert len(set(ids)) == len(ids) and all(i.startswith("req_") for i in ids)
