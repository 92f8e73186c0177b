"""The reconcile's ids seen, packed for the state: they read back exactly, UUIDs or not."""

from __future__ import annotations

import uuid

from sources.core.sweep.seen_ids import pack_ids, unpack_ids


def test_uuids_pack_to_16_bytes_each_and_read_back() -> None:
    ids = {str(uuid.uuid4()) for _ in range(1_000)}
    packed = pack_ids(ids)
    assert unpack_ids(packed) == ids
    assert len(packed) < 1_000 * 16 * 1.4  # base64 of compressed 16-byte ids, not 36-char text


def test_other_ids_read_back_exactly() -> None:
    ids = {"lead-1", "LEAD-2", str(uuid.uuid4()).upper(), "x"}  # an uppercase UUID stays as is
    assert unpack_ids(pack_ids(ids)) == ids
    assert unpack_ids(pack_ids(set())) == set()
    assert unpack_ids(None) == set()
