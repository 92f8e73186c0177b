"""A set of item ids kept compactly in dlt state: sorted, packed (16 bytes a UUID, else the ids
joined), zlib-compressed and base64-encoded. 1M UUIDs are ~21 MB of text in the state."""

from __future__ import annotations

import base64
import uuid
import zlib
from collections.abc import Iterable

_UUIDS, _TEXT = b"U", b"T"


def pack_ids(ids: Iterable[str]) -> str:
    ordered = sorted(ids)
    try:
        packed = [uuid.UUID(i) for i in ordered]
    except ValueError:
        packed = []
    # Only canonical UUIDs are packed: the ids must read back exactly as the API wrote them.
    if packed and all(str(u) == i for u, i in zip(packed, ordered, strict=True)):
        body = _UUIDS + b"".join(u.bytes for u in packed)
    else:
        body = _TEXT + "\n".join(ordered).encode()
    return base64.b64encode(zlib.compress(body, 1)).decode()


def unpack_ids(packed: str | None) -> set[str]:
    if not packed:
        return set()
    body = zlib.decompress(base64.b64decode(packed))
    kind, data = body[:1], body[1:]
    if kind == _UUIDS:
        return {str(uuid.UUID(bytes=data[n : n + 16])) for n in range(0, len(data), 16)}
    return set(data.decode().split("\n")) if data else set()
