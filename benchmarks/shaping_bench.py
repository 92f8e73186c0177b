"""CPU cost of row shaping (`leads_table`, `custom_fields_table`) per 100k leads.

``python -m benchmarks.shaping_bench [--pages FILE] [--leads N] [--chunks 1000,10000]``

``--pages`` is a pickle of a list of raw page bodies (bytes) as the API sends them. Without it the
pages are rendered in-process by the simulator's `LeadStore` (no HTTP), so the leads are exactly
what `orjson.loads` makes of real responses (no nested dicts shared between leads).
Shaping runs on the main thread under the GIL, so process CPU time is what it costs the pipeline;
each figure is the best of ``--repeats`` passes over all leads.
"""

from __future__ import annotations

import argparse
import gc
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from sources.mega.shaping import custom_fields_table, leads_table

Leads = list[dict[str, Any]]


def simulated_pages(n: int, seed: int) -> list[bytes]:
    from simulators.mega.data import generate_leads
    from simulators.mega.store import LeadStore

    store = LeadStore()
    store.add_many(generate_leads(n, seed=seed))
    params = {"limit": "100", "include_custom_fields": "true", "sort_by": "updated_at"}
    pages: list[bytes] = []
    while True:
        body = store.query_bytes(params)
        pages.append(body)
        cursor = orjson.loads(body)["next_cursor"]
        if cursor is None:
            return pages
        params["cursor"] = cursor


def load_leads(pages_file: Path | None, n: int, seed: int) -> Leads:
    if pages_file is None:
        pages = simulated_pages(n, seed)
    else:
        with pages_file.open("rb") as f:
            pages = pickle.load(f)
    return [lead for page in pages for lead in orjson.loads(page)["leads"]]


def cpu_per_100k(fn: Callable[[Leads], Any], leads: Leads, chunk: int, repeats: int) -> float:
    chunks = [leads[i : i + chunk] for i in range(0, len(leads), chunk)]
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.process_time()
        for part in chunks:
            fn(part)
        best = min(best, time.process_time() - start)
    return best * 100_000 / len(leads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--pages", type=Path, help="pickle of a list of raw page bodies")
    parser.add_argument("--leads", type=int, default=100_000, help="leads to simulate [100000]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunks", default="1000,10000", help="leads per call [1000,10000]")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    leads = load_leads(args.pages, args.leads, args.seed)
    functions: dict[str, Callable[[Leads], Any]] = {
        "leads_table": lambda part: leads_table(part, "bench"),
        "custom_fields_table": lambda part: custom_fields_table(part, "bench"),
    }
    print(f"{len(leads)} leads; CPU seconds per 100k leads, best of {args.repeats}")
    for chunk in (int(c) for c in args.chunks.split(",")):
        for name, fn in functions.items():
            seconds = cpu_per_100k(fn, leads, chunk, args.repeats)
            print(f"  chunk {chunk:>6}  {name:<20} {seconds:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
