"""The reconcile's ids seen, packed for the state: they read back exactly, UUIDs or not."""

from __future__ import annotations

import base64
import uuid
import zlib

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


def test_the_packing_is_the_one_states_already_hold() -> None:
    """States saved by a reconcile before the hex packing read back, and pack the same."""
    ids = [str(uuid.UUID(int=n * 7919)) for n in range(1, 200)]
    earlier = base64.b64encode(
        zlib.compress(b"U" + b"".join(uuid.UUID(i).bytes for i in sorted(ids)), 1)
    ).decode()
    assert unpack_ids(earlier) == set(ids)
    assert pack_ids(ids) == earlier


def test_ids_that_only_look_like_uuids_are_kept_as_text() -> None:
    canonical = str(uuid.uuid4())
    for odd in (
        canonical.upper(),
        canonical.replace("-", ""),
        "{" + canonical + "}",
        canonical[:8] + canonical[9:13] + "-" + canonical[8] + canonical[13:],  # a hyphen moved
        canonical[:-2] + " " + canonical[-1],  # whitespace that bytes.fromhex skips
    ):
        ids = {odd, str(uuid.uuid4())}
        assert unpack_ids(pack_ids(ids)) == ids, odd
