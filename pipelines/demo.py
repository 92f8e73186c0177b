"""The demo: the whole job on embedded defaults, against the shipped simulators on loopback.

MEGA: starts its simulator with sample leads, backfills DuckDB, creates and updates leads through
the API, runs again (only the changes are fetched), reconciles a deleted lead. Leads v1: backfills
the same DuckDB file (dataset ``leads_v1``) with each lead's detail, then a run after edits and a
deletion fetches only the changed leads' details. Push: the qualified Leads v1 leads are created
in Apollo Space, and a second push sends nothing. Prints the summaries and a few sample queries.
Everything lands in ``demo_data/`` (recreated each time).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import duckdb

from pipelines import leads_v1
from pipelines.mega_leads import run
from pipelines.push import push
from pipelines.registry import SOURCES
from pipelines.result import RunResult
from simulators.apollo import DEFAULT_ORGANIZATION_ID as APOLLO_ORGANIZATION
from simulators.apollo import DEFAULT_PIPELINE_ID as APOLLO_PIPELINE
from simulators.apollo import DEFAULT_TOKEN as APOLLO_TOKEN
from simulators.apollo import ApolloServer
from simulators.leads_v1 import DEFAULT_TOKEN as LEADS_V1_TOKEN
from simulators.leads_v1 import LeadsV1Server
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, SimulatorServer
from sources.mega.client import MegaClient

# Each source's sample queries (the registry's), then the push ledger's.
SAMPLE_QUERIES = {
    **{title: sql for source in SOURCES.values() for title, sql in source.sample_queries.items()},
    "push ledger": (
        "SELECT target, status, COUNT(*) AS rows, COUNT(remote_id) AS with_remote_id "
        "FROM push._push_ledger GROUP BY ALL ORDER BY ALL"
    ),
}


def step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def report(result: RunResult) -> None:
    print(result.summary(), flush=True)


def change_leads_through_the_api(client: MegaClient, sim: SimulatorServer) -> None:
    key = str(uuid.uuid4())
    new_lead = {
        "contact_name": "Zoë Demo",
        "contact_email": "zoe.demo@example.com",
        "source_platform": "referral",
        "source_type": "form",
        "custom_fields": {"lead_line": "buyer", "budget": 725000, "pre_approved": True},
    }
    created = client.create_lead(new_lead, idempotency_key=key)
    replayed = client.create_lead(new_lead, idempotency_key=key)
    print(
        f"created lead {created['id']} (a retry with the same Idempotency-Key returned "
        f"{'the same lead' if replayed['id'] == created['id'] else 'ANOTHER lead'})"
    )
    client.create_lead({"contact_name": "李雷", "contact_phone": "+86 138 0013 8000"})
    existing = sim.store.snapshot()[10]
    if existing.get("contact_email"):
        merged = client.create_lead(
            {"contact_email": existing["contact_email"], "custom_fields": {"budget": "640000"}}
        )
        print(f"merged into existing lead {merged['id']} by email (custom field budget changed)")


def show_queries(database: Path) -> None:
    with duckdb.connect(str(database), read_only=True) as con:
        for title, sql in SAMPLE_QUERIES.items():
            step(f"sample query: {title}")
            print(con.sql(sql))


def label_logs(command: str) -> None:
    """The demo's log lines carry the command of the source running, as its CLI's do."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(logging.Formatter(f"  {command}: %(message)s"))


def leads_v1_demo(work: Path) -> None:
    """The second source into the same DuckDB file, its own dataset."""
    label_logs("leads-v1")
    with LeadsV1Server(n_leads=600, seed=42) as sim:
        print(f"\nLeads v1 simulator on {sim.url} serving 600 leads")
        options: dict[str, Any] = {
            "pipelines_dir": str(work / "pipelines"),
            "base_url": sim.url,
            "api_token": LEADS_V1_TOKEN,
        }
        step("Leads v1 run 1: backfill (list pages of 200, each lead's detail, 8 in flight)")
        report(leads_v1.run(**options))

        leads = sim.store.leads()
        sim.store.update(leads[5]["id"], pipeline_stage="won", lead_score=92)
        sim.store.create(name="Sam Demo", company="Demo Roofing", source="website")
        sim.store.delete(leads[9]["id"])
        print("a lead was moved to won, one created and one deleted in the API")

        step("Leads v1 run 2: every list page, but details only for the 2 changed leads")
        report(leads_v1.run(**options))


def push_demo(database: Path) -> None:
    """Reverse ETL: the qualified Leads v1 leads created in Apollo Space, exactly once."""
    query = (
        "SELECT id, name, company, email FROM leads_v1.leads "
        "WHERE pipeline_stage = 'qualified' AND _deleted_at IS NULL AND name IS NOT NULL"
    )
    with ApolloServer() as crm:
        options: dict[str, Any] = {
            "query": query,
            "field_map": "contact_name=name,company_name=company,email=email",
            "duckdb_file": str(database),
            "base_url": crm.url,
            "api_token": APOLLO_TOKEN,
            "organization_id": APOLLO_ORGANIZATION,
            "pipeline_id": APOLLO_PIPELINE,
        }
        step("push: qualified Leads v1 leads → Apollo Space (POST /leads, Idempotency-Key)")
        print(push("apollo", **options).summary())
        step("push again: the ledger knows every row, nothing is sent")
        print(push("apollo", **options).summary())
        print(f"Apollo now holds {len(crm.store.leads())} leads")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=2_500, help="sample leads to serve")
    parser.add_argument("--dir", default="demo_data", help="where the demo writes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout)
    label_logs("mega-leads")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("dlt").setLevel(logging.ERROR)
    work = Path(args.dir).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    database = work / "mega_leads.duckdb"

    with SimulatorServer(n_leads=args.leads, seed=42) as sim:
        print(f"MEGA simulator on {sim.url} serving {args.leads} leads")
        options: dict[str, Any] = {
            "destination": "duckdb",
            "pipelines_dir": str(work / "pipelines"),
            "base_url": sim.url,
            "api_token": DEFAULT_TOKEN,
            "customer_id": DEFAULT_CUSTOMER_ID,
        }
        os.environ["DESTINATION__DUCKDB__CREDENTIALS"] = str(database)
        step("run 1: backfill (checkpoint every 10 pages)")
        report(run(checkpoint_pages=10, **options))

        step("changing leads through the API (POST /api/agents/crm/leads)")
        with MegaClient(sim.url, DEFAULT_TOKEN, DEFAULT_CUSTOMER_ID) as client:
            change_leads_through_the_api(client, sim)
        sim.store.touch(25, seed=7)
        print("and 25 leads were edited in the CRM")

        step("run 2: incremental (only what changed is fetched)")
        report(run(**options))

        step("run 3: nothing changed")
        report(run(**options))

        gone = sim.store.ids()[3]
        sim.store.delete(gone)
        step(f"run 4: lead {gone} was deleted in the CRM; reconcile sweep (soft delete)")
        report(run(reconcile=True, **options))

    leads_v1_demo(work)
    push_demo(database)
    show_queries(database)
    print(f"\nDuckDB file: {database}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
