"""A throwaway S3-compatible server for tests and benchmarks: moto's server on a free loopback
port, in a process of its own, stopped afterwards; a new bucket per test.

Not moto's `ThreadedMotoServer` in the test's own process: deltalake's Rust calls
(`DeltaTable.is_deltatable`) hold the GIL while they wait for the answer, so a server thread in
the same interpreter never answers them (measured: the first load hung)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.postgres import free_port

REGION = "us-east-1"
ACCESS_KEY_ID = "test-access-key"
SECRET_ACCESS_KEY = "test-secret-key-not-for-logs"
STARTUP_S = 60

_buckets = itertools.count(1)


@dataclass(frozen=True)
class S3Bucket:
    """A bucket (and a folder in it) on the test server, with what dlt and readers need."""

    endpoint_url: str
    name: str
    prefix: str = "lake"

    @property
    def url(self) -> str:
        return f"s3://{self.name}/{self.prefix}"

    def settings(self) -> dict[str, str]:
        """dlt's filesystem settings, as a user exports them for an S3-compatible server."""
        prefix = "DESTINATION__FILESYSTEM__"
        return {
            f"{prefix}BUCKET_URL": self.url,
            f"{prefix}CREDENTIALS__AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            f"{prefix}CREDENTIALS__AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            f"{prefix}CREDENTIALS__ENDPOINT_URL": self.endpoint_url,
            f"{prefix}CREDENTIALS__REGION_NAME": REGION,
        }

    def delta_options(self) -> dict[str, str]:
        """deltalake's storage options (the object_store crate's keys)."""
        return {
            "aws_access_key_id": ACCESS_KEY_ID,
            "aws_secret_access_key": SECRET_ACCESS_KEY,
            "aws_region": REGION,
            "aws_endpoint_url": self.endpoint_url,
            "aws_allow_http": "true",
        }

    def iceberg_properties(self) -> dict[str, str]:
        """pyiceberg's FileIO properties."""
        return {
            "s3.access-key-id": ACCESS_KEY_ID,
            "s3.secret-access-key": SECRET_ACCESS_KEY,
            "s3.region": REGION,
            "s3.endpoint": self.endpoint_url,
        }

    def filesystem(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(
            key=ACCESS_KEY_ID,
            secret=SECRET_ACCESS_KEY,
            endpoint_url=self.endpoint_url,
            client_kwargs={"region_name": REGION},
            use_listings_cache=False,
        )


class S3Server:
    """The running server: ``new_bucket()`` makes an empty bucket."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            region_name=REGION,
        )

    def new_bucket(self) -> S3Bucket:
        name = f"lake-{os.getpid()}-{next(_buckets)}"
        self.client().create_bucket(Bucket=name)
        return S3Bucket(self.endpoint_url, name)


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """Yield a running moto S3 server; it is stopped afterwards (its buckets live in memory)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        server = S3Server(f"http://127.0.0.1:{port}")
        _wait_until_up(server, process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(server: S3Server, process: subprocess.Popen[bytes]) -> None:
    """Until the server lists buckets (importing moto takes a second or two)."""
    from botocore.exceptions import EndpointConnectionError

    client = server.client()
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            client.list_buckets()
            return
        except EndpointConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"moto's S3 server did not start (exit code {process.poll()}): "
                    "pip install 'moto[server]' (the dev extra)"
                ) from None
            time.sleep(0.05)
