"""The lakehouse dataset's lock (warehouses/dataset_lock.py): a second holder waits while the
first holds it, a stop ends the wait, a lease left by a dead run is taken over after it ends,
and a store without an exclusive create is refused in one line."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sources.core.errors import ConfigurationError, Interrupted
from tests.s3 import S3Server
from warehouses.dataset_lock import dataset_lock as lock_of


def local_client(bucket: Path) -> Any:
    config = SimpleNamespace(is_local_filesystem=True, protocol="file")
    return SimpleNamespace(dataset_path=str(bucket / "mega"), config=config)


def s3_client(s3: S3Server) -> tuple[Any, Any, str]:
    bucket = s3.new_bucket()
    fs = bucket.filesystem()
    config = SimpleNamespace(is_local_filesystem=False, protocol="s3")
    client = SimpleNamespace(dataset_path=f"{bucket.name}/lake/mega", config=config, fs_client=fs)
    return client, fs, f"{bucket.name}/lake/mega.lock"


def second_holder(client: Any, stop: threading.Event) -> tuple[threading.Thread, dict[str, Any]]:
    """A thread taking the lock: what it met lands in the dict (``held`` or ``error``)."""
    seen: dict[str, Any] = {}

    def take() -> None:
        try:
            with lock_of(client, stop):
                seen["held"] = True
        except Exception as exc:
            seen["error"] = exc

    thread = threading.Thread(target=take)
    thread.start()
    return thread, seen


def test_a_second_local_holder_waits_until_a_stop(tmp_path: Path) -> None:
    client = local_client(tmp_path / "lake")
    with lock_of(client, threading.Event()):
        stop = threading.Event()
        thread, seen = second_holder(client, stop)
        thread.join(timeout=1)
        assert thread.is_alive() and seen == {}  # waiting
        stop.set()
        thread.join(timeout=5)
        assert isinstance(seen["error"], Interrupted)
    # Let go: the next one takes it at once.
    thread, seen = second_holder(client, threading.Event())
    thread.join(timeout=5)
    assert seen == {"held": True}


@pytest.mark.object_storage
def test_an_s3_lock_waits_for_its_holder_and_takes_over_an_ended_lease(s3: S3Server) -> None:
    client, fs, path = s3_client(s3)
    with lock_of(client, threading.Event()):
        assert json.loads(fs.cat_file(path))["expires"] > time.time()
        stop = threading.Event()
        thread, seen = second_holder(client, stop)
        thread.join(timeout=1)
        assert thread.is_alive() and seen == {}
        stop.set()
        thread.join(timeout=5)
        assert isinstance(seen["error"], Interrupted)
    assert not fs.exists(path)

    # A run killed holding it: its lease ended a second ago.
    fs.pipe_file(path, json.dumps({"holder": "dead", "expires": time.time() - 1}).encode())
    thread, seen = second_holder(client, threading.Event())
    thread.join(timeout=10)
    assert seen == {"held": True}
    assert not fs.exists(path)


def test_a_store_without_exclusive_create_is_refused() -> None:
    config = SimpleNamespace(is_local_filesystem=False, protocol="gs")
    client = SimpleNamespace(dataset_path="bucket/lake/mega", config=config)
    refused = pytest.raises(ConfigurationError, match="DESTINATION__FILESYSTEM__BUCKET_URL")
    with refused, lock_of(client, threading.Event()):
        pass
