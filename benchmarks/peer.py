"""The peer: dlt's rest_api source as a user would write it for MEGA's leads (merge on id,
incremental on ``updated_at``, dlt defaults otherwise), one run per process, as a scheduler
would start it:

    python -m benchmarks.peer --url U --token T --customer C --destination postgres \
        --credentials postgresql://... --pipelines-dir D

It imports nothing of this project's but this module, so its start-up is dlt's and rest_api's.
"""

from __future__ import annotations

import argparse
from typing import Any

LEADS_PATH = "/api/agents/crm/leads"
LIST_PARAMS = {
    "sort_by": "updated_at",
    "sort_dir": "asc",
    "limit": "100",
    "include_custom_fields": "true",
}
INITIAL_VALUE = "2000-01-01T00:00:00.000Z"
PIPELINE_NAME = "rest_bench"


def rest_api_config(url: str, token: str, customer: str) -> dict[str, Any]:
    """What a user would write with dlt's generic REST source, dlt defaults otherwise."""
    return {
        "client": {
            "base_url": url,
            "auth": {"type": "bearer", "token": token},
            "headers": {"x-customer-id": customer},
        },
        "resources": [
            {
                "name": "leads",
                "primary_key": "id",
                "write_disposition": "merge",
                "endpoint": {
                    "path": LEADS_PATH,
                    "params": {
                        **LIST_PARAMS,
                        "updated_since": {
                            "type": "incremental",
                            "cursor_path": "updated_at",
                            "initial_value": INITIAL_VALUE,
                        },
                    },
                    "paginator": {
                        "type": "cursor",
                        "cursor_path": "next_cursor",
                        "cursor_param": "cursor",
                    },
                    "data_selector": "leads",
                },
            }
        ],
    }


def peer_pipeline(destination: str, credentials: str, dataset: str, pipelines_dir: str) -> Any:
    """The peer's dlt pipeline into ``dlt.destinations.<destination>(credentials)``."""
    import dlt

    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=getattr(dlt.destinations, destination)(credentials),
        dataset_name=dataset,
        pipelines_dir=pipelines_dir,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peer")
    for flag in ("--url", "--token", "--customer", "--credentials", "--pipelines-dir"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--destination", default="duckdb")
    parser.add_argument("--dataset", default="mega_rest")
    args = parser.parse_args(argv)
    from dlt.sources.rest_api import rest_api_source

    pipeline = peer_pipeline(args.destination, args.credentials, args.dataset, args.pipelines_dir)
    config = rest_api_config(args.url, args.token, args.customer)
    pipeline.run(rest_api_source(config))  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
