"""The shared HTTP core on its own: a named policy an API overrides, and the API's error reader."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from sources.core.errors import AuthenticationError, ServerError, TransportError
from sources.core.http import HttpClient
from sources.core.retry import DEFAULT_RETRY, RetryPolicy

TOKEN = "secret-token-1234"
FAST = replace(DEFAULT_RETRY, name="fast", max_retries=2, backoff_base_s=0.0, backoff_max_s=0.0)


def client(answers: list[httpx.Response | Exception], retry: RetryPolicy = FAST) -> HttpClient:
    def handler(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    http = HttpClient(
        "https://api.example.test",
        base_url_setting="SOURCES__EXAMPLE__BASE_URL",
        auth_headers={"X-Api-Key": TOKEN},
        secrets=(TOKEN,),
        read_error=lambda response: ("example_type", f"{response.text} {TOKEN}"),
        retry=retry,
        sleep=lambda seconds: None,
        answered=True,
    )
    http._http._transport = httpx.MockTransport(handler)
    return http


def test_the_default_policy_retries_5xx_and_its_replacement_need_not() -> None:
    assert (
        client([httpx.Response(503), httpx.Response(200)]).request("GET", "/x").status_code == 200
    )
    strict = replace(FAST, name="strict", retry_statuses=frozenset({429}))
    with pytest.raises(ServerError) as failed:
        client([httpx.Response(503, text="down")], strict).request("GET", "/x", context="page 1")
    assert str(failed.value) == "server error (503 example_type): down *** [page 1]"


def test_transport_errors_are_retried_unless_the_policy_says_not() -> None:
    dropped = httpx.ReadError("dropped")
    http = client([dropped, httpx.Response(200)])
    assert http.request("GET", "/x").status_code == 200
    assert http.stats.retries == 1
    once = replace(FAST, retry_transport=False)
    with pytest.raises(TransportError, match=r"^ReadError: dropped \[\]$"):
        client([dropped], once).request("GET", "/x")


def test_fatal_statuses_are_typed_by_the_api_error_reader_and_redacted() -> None:
    with pytest.raises(AuthenticationError) as failed:
        client([httpx.Response(401, text="no")]).request("GET", "/x", context="page 3")
    assert str(failed.value) == "authentication failed (401 example_type): no *** [page 3]"


def test_a_policy_travels_to_another_process_as_json() -> None:
    spec = client([]).spec()
    assert spec["retry"]["name"] == "fast"
    options = HttpClient.options_from_spec(spec)
    assert options["retry"] == FAST and options["answered"] is True
