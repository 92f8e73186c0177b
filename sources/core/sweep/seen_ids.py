"""A set of item ids kept compactly in dlt state: sorted, packed (16 bytes a UUID, else the ids
joined), zlib-compressed and base64-encoded. 1M UUIDs are ~21 MB of text in the state."""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Iterable

_UUIDS, _TEXT = b"U", b"T"
_CANONICAL = re.compile(r"(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n)+")


def pack_ids(ids: Iterable[str]) -> str:
    ordered = sorted(ids)
    packed = _uuid_bytes(ordered)
    body = _UUIDS + packed if packed else _TEXT + "\n".join(ordered).encode()
    return base64.b64encode(zlib.compress(body, 1)).decode()


def unpack_ids(packed: str | None) -> set[str]:
    if not packed:
        return set()
    body = zlib.decompress(base64.b64decode(packed))
    kind, data = body[:1], body[1:]
    if kind == _UUIDS:
        return set(_uuid_texts(data))
    return set(data.decode().split("\n")) if data else set()


def _uuid_bytes(ordered: list[str]) -> bytes | None:
    """The ids' 16 bytes each, if every one is a canonical UUID (lowercase, hyphenated): the ids
    must read back exactly as the API wrote them. A regex and hex, not ``uuid.UUID`` per id:
    a reconcile of 1M leads packs at every checkpoint and unpacks on resume."""
    text = "".join(i + "\n" for i in ordered)
    if not _CANONICAL.fullmatch(text):
        return None
    data = bytes.fromhex(text.replace("-", "").replace("\n", ""))
    return data if len(data) == 16 * len(ordered) else None  # no id spans two lines


def _uuid_texts(data: bytes) -> list[str]:
    text = data.hex()
    return [
        f"{text[n : n + 8]}-{text[n + 8 : n + 12]}-{text[n + 12 : n + 16]}-"
        f"{text[n + 16 : n + 20]}-{text[n + 20 : n + 32]}"
        for n in range(0, len(text), 32)
    ]
