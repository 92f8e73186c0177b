"""``serve --accounts N``: every simulator's command line serves N accounts and prints each
one's exports; pasted as printed, each reaches its own account (its own leads only)."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from simulators import apollo, leads_v1, mega
from simulators.apollo.server import account_pipeline_id
from simulators.core.accounts import Account
from tests.simulator import cli
from tests.simulator.accounts_kit import KITS, Kit


def _blocks(lines: list[str]) -> dict[str, dict[str, str]]:
    """Each ``# <account>`` block's exports."""
    blocks: dict[str, list[str]] = {}
    for line in lines:
        if line.strip().startswith("# "):
            current = blocks.setdefault(line.strip().removeprefix("# "), [])
        elif blocks:
            current.append(line)
    return {name: cli.exports(block) for name, block in blocks.items()}


def _settings(env: dict[str, str], prefix: str) -> dict[str, str]:
    return {name.removeprefix(prefix).lower(): value for name, value in env.items()}


@pytest.mark.parametrize("kit", KITS, ids=lambda kit: kit.name)
def test_each_printed_account_reaches_its_own_leads(kit: Kit) -> None:
    module, prefix = f"simulators.{kit.name}", f"SOURCES__{kit.name.upper()}__"
    last: Account = kit.account("account-3", 0, 0)
    # The last line printed: MEGA's settings end with the customer id, Leads v1's the token.
    final = last.tenant_id if kit.name == "mega" else last.token
    command = [sys.executable, "-m", module]
    with cli.serving(command, final, "--accounts", "3", "--leads", "12") as lines:
        assert "(3 accounts, 12 leads each;" in lines[0]
        blocks = _blocks(lines)
        assert list(blocks) == ["account-1", "account-2", "account-3"]
        ids: set[str] = set()
        for env in blocks.values():
            settings = _settings(env, prefix)
            with httpx.Client(
                base_url=settings["base_url"], headers=kit.headers(settings), timeout=10
            ) as client:
                leads = kit.all_leads(client)
            assert len(leads) == 12
            ids |= {lead["id"] for lead in leads}
        assert len(ids) == 36


def test_apollo_prints_each_account_destination_settings() -> None:
    final = account_pipeline_id(apollo.account("account-2"))
    command = [sys.executable, "-m", "simulators.apollo"]
    with cli.serving(command, final, "--accounts", "2") as lines:
        blocks = _blocks(lines)
        assert list(blocks) == ["account-1", "account-2"]
        settings = _settings(blocks["account-2"], "DESTINATION__APOLLO__")
        body = {"contact_name": "Ana Souza", "pipeline_id": settings["pipeline_id"]}
        headers = {
            "Authorization": f"Bearer {settings['api_token']}",
            "X-Organization-Id": settings["organization_id"],
        }
        created = httpx.post(settings["base_url"] + "/leads", json=body, headers=headers)
        assert created.status_code == 201, created.text


@pytest.mark.parametrize("module", ["simulators.mega", "simulators.leads_v1"])
def test_token_and_accounts_exclude_each_other(module: str) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", module, "serve", "--accounts", "2", "--token", "t"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2
    assert "--token and --accounts exclude each other" in refused.stderr


def test_settings_names_are_the_connectors_variables() -> None:
    with mega.SimulatorServer(accounts=[mega.account("a")]) as sim:
        assert set(sim.account_settings("a")) == {"base_url", "api_token", "customer_id"}
    with leads_v1.LeadsV1Server(accounts=[leads_v1.account("a")]) as sim:
        assert set(sim.account_settings("a")) == {"base_url", "api_token"}
