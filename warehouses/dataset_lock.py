"""A lock across processes and machines on a lakehouse dataset that several accounts' pipelines
load at once (README: Many accounts).

Why: dlt's Iceberg tables on the filesystem destination have no catalog of their own (an
in-memory one registers the newest metadata file per load), so two commits at once both build
on the same version and one is silently lost (measured: 4 accounts at once into one local or S3
dataset left one account's rows, every run reporting success). Delta's own commit check is
kept, but its first loads create the tables at once as well, so both formats take the lock.

The lock is a file beside the dataset folder (``<bucket>/<dataset>.lock``): on a local disk
held with ``flock`` (let go by the kernel when its process dies); on object storage an object
created only if absent (S3's conditional PUT, ``If-None-Match: *``) holding its holder and the
end of its lease, taken over once the lease ended (a run killed without letting it go).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from sources.core.errors import ConfigurationError, Interrupted

log = logging.getLogger("crm_leads.warehouse")

# Longer than any one checkpoint's load holds it; a lock older than this was left by a run
# that died holding it.
LEASE_S = 15 * 60
POLL_S = 0.2
# Object stores whose fsspec client creates an object only if absent, atomically.
EXCLUSIVE_CREATE = ("s3", "s3a")


@contextlib.contextmanager
def dataset_lock(client: Any, stop: threading.Event) -> Iterator[None]:
    """Hold the lock of the dataset of ``client`` (dlt's filesystem client); waits while another
    process holds it, a stop (Ctrl-C, SIGTERM) ending the wait with ``Interrupted``."""
    path = client.dataset_path.rstrip("/") + ".lock"
    if client.config.is_local_filesystem:
        with _local_lock(path, stop):
            yield
        return
    protocol = client.config.protocol
    if protocol not in EXCLUSIVE_CREATE:
        raise ConfigurationError(
            f"several accounts into one lakehouse dataset on {protocol}:// cannot lock it "
            "against each other's commits (tested on local disks and S3): run them one at a "
            "time, or give each account its own DESTINATION__FILESYSTEM__BUCKET_URL"
        )
    with _object_lock(client.fs_client, path, stop):
        yield


@contextlib.contextmanager
def _local_lock(path: str, stop: threading.Event) -> Iterator[None]:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "a+b") as held:
        while True:
            try:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                _wait(stop)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


@contextlib.contextmanager
def _object_lock(fs: Any, path: str, stop: threading.Event) -> Iterator[None]:
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
    while not _created(fs, path, holder):
        _take_over_if_stale(fs, path)
        _wait(stop)
    try:
        yield
    finally:
        if _holder(fs, path) == holder:
            fs.rm_file(path)


def _created(fs: Any, path: str, holder: str) -> bool:
    body = json.dumps({"holder": holder, "expires": time.time() + LEASE_S}).encode()
    try:
        fs.pipe_file(path, body, mode="create")
    except FileExistsError:
        return False
    return True


def _lease(fs: Any, path: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = json.loads(fs.cat_file(path))
    except FileNotFoundError:
        return None
    return found


def _holder(fs: Any, path: str) -> str | None:
    lease = _lease(fs, path)
    return None if lease is None else str(lease.get("holder"))


def _take_over_if_stale(fs: Any, path: str) -> None:
    lease = _lease(fs, path)
    if lease is None or float(lease.get("expires", 0)) > time.time():
        return
    # Read again just before: a run that took it over meanwhile holds a lease of its own.
    if _holder(fs, path) == lease.get("holder"):
        log.warning("taking over %s, whose holder's lease ended (%s)", path, lease.get("holder"))
        with contextlib.suppress(FileNotFoundError):
            fs.rm_file(path)


def _wait(stop: threading.Event) -> None:
    if stop.wait(POLL_S):
        raise Interrupted("interrupted while waiting for another account's load")
