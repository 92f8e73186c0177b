"""What both simulators' tests check of any answer the same way: every page, following
``next_cursor`` to the end, and an error that is JSON and never echoes the token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

MAX_PAGES = 10_000  # a cursor that never ends fails the test instead of hanging it


def pages(client: httpx.Client, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Each 200 page's body, the next one fetched with its ``next_cursor`` until that is null.
    A caller checks a page before the next is fetched."""
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        yield body
        cursor = body["next_cursor"]
        if cursor is None:
            return
    raise AssertionError(f"next_cursor did not end after {MAX_PAGES} pages")


def error_answer(response: httpx.Response, status: int, token: str) -> dict[str, Any]:
    """The JSON body of an error answer with ``status`` that does not echo ``token``; the
    caller checks its API's error shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert token not in response.text
    body: dict[str, Any] = response.json()
    return body
