"""The push targets the stop tests run against, one declaration each: how to start its
simulator, the environment of a ``push-leads`` run into it, rows it accepts, and the leads it
holds (by the e-mail a row carries, which tells a duplicate)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from simulators import apollo, leads_v1, mega


@dataclass(frozen=True)
class PushTarget:
    name: str  # --target
    make_sim: Callable[[], Any]  # a simulator server, no leads: a context manager
    settings: Callable[[Any], dict[str, str]]  # DESTINATION__<TARGET>__<NAME> -> value
    row: Callable[[int], dict[str, Any]]  # row number -> a row it accepts, keyed "id"
    email_field: str  # where a created lead keeps the row's e-mail
    leads: Callable[[Any], list[dict[str, Any]]]  # the leads the simulator holds
    create_path: str

    def emails(self, sim: Any) -> list[str]:
        """One e-mail per lead held, with repeats (a duplicate shows)."""
        return [lead[self.email_field] for lead in self.leads(sim)]

    def command(self, sim: Any, root: Path, rows: int) -> tuple[list[str], dict[str, str]]:
        """The argv and environment of a push of ``rows`` rows (a file under ``root``)."""
        path = root / "rows.jsonl"
        if not path.exists():
            path.write_bytes(b"\n".join(orjson.dumps(self.row(n)) for n in range(rows)))
        prefix = f"DESTINATION__{self.name.upper()}__"
        env = os.environ | {f"{prefix}{k}": v for k, v in self.settings(sim).items()}
        argv = [sys.executable, "-m", "pipelines.push", "-q", "--target", self.name]
        argv += ["--file", str(path), "--duckdb-file", str(root / "w.duckdb")]
        return argv, env


MEGA = PushTarget(
    name="mega",
    make_sim=lambda: mega.SimulatorServer(n_leads=0),
    settings=lambda sim: {
        "BASE_URL": sim.url,
        "API_TOKEN": mega.DEFAULT_TOKEN,
        "CUSTOMER_ID": mega.DEFAULT_CUSTOMER_ID,
    },
    row=lambda n: {"id": f"r{n}", "contact_name": f"Person {n}", "contact_email": f"p{n}@x.com"},
    email_field="contact_email",
    leads=lambda sim: sim.store.snapshot(),
    create_path="/api/agents/crm/leads",
)

LEADS_V1 = PushTarget(
    name="leads_v1",
    make_sim=lambda: leads_v1.LeadsV1Server(n_leads=0),
    settings=lambda sim: {"BASE_URL": sim.url, "API_TOKEN": leads_v1.DEFAULT_TOKEN},
    row=lambda n: {"id": f"r{n}", "name": f"Lead {n}", "company": "Co", "email": f"l{n}@x.com"},
    email_field="email",
    leads=lambda sim: sim.store.leads(),
    create_path=leads_v1.LEADS_PATH,
)

APOLLO = PushTarget(
    name="apollo",
    make_sim=lambda: apollo.ApolloServer(),
    settings=lambda sim: {
        "BASE_URL": sim.url,
        "API_TOKEN": apollo.DEFAULT_TOKEN,
        "ORGANIZATION_ID": apollo.DEFAULT_ORGANIZATION_ID,
        "PIPELINE_ID": apollo.DEFAULT_PIPELINE_ID,
    },
    row=lambda n: {"id": f"a{n}", "contact_name": f"Contato {n}", "email": f"c{n}@x.com.br"},
    email_field="email",
    leads=lambda sim: sim.store.leads(),
    create_path=apollo.LEADS_PATH,
)

TARGETS = [MEGA, LEADS_V1, APOLLO]
