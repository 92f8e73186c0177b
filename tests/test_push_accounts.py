"""Several accounts of a push target (README: Many accounts), configured as a user would
(``DESTINATION__<TARGET>__ACCOUNTS__<NAME>__…``), against one simulator serving each account its
own tenant, store and token: each account's rows land at that account only, each account's
ledger rows are its own, and one account's refused token or missing setting stops nothing of
the others'."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from pipelines.push import push
from simulators import apollo, leads_v1, mega
from sources.core.errors import ConfigurationError
from tests.helpers import environ_without_settings
from tests.helpers.accounts import accounts_env
from tests.helpers.push import run_push_cli, write_csv, writes

NAMES = ("acme", "globex")
MAP = "contact_name=name,contact_email=email,source_platform=platform"


def people(account: str, n: int) -> list[dict[str, Any]]:
    """Rows of one account; the same keys (and content) in every account's."""
    return [
        {
            "key": f"row-{i}",
            "name": f"Person {i}",
            "email": f"p{i}@example.com",
            "platform": "direct",
            "account": account,
        }
        for i in range(n)
    ]


@pytest.fixture
def crm() -> Iterator[mega.SimulatorServer]:
    with mega.SimulatorServer(accounts=[mega.account(name) for name in NAMES]) as sim:
        yield sim


def env_for(sim: mega.SimulatorServer, root: Path) -> dict[str, str]:
    """What a user exports: the address once, each account's token and customer."""
    return {
        **environ_without_settings(),
        **accounts_env(sim, NAMES, "mega", kind="destination"),
        "DLT_DATA_DIR": str(root / "dlt"),
    }


def cli(env: dict[str, str], rows: Path, *args: str) -> Any:
    return run_push_cli(
        env, "--target", "mega", "--file", str(rows), "--key", "key", "--map", MAP, *args
    )


def book(path: Path) -> dict[tuple[str, str], tuple[Any, ...]]:
    """(account, row key) -> the ledger row."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT * FROM push._push_ledger ORDER BY ALL").fetchall()
    return {(row[1], row[2]): row for row in rows}


def emails(sim: mega.SimulatorServer, name: str) -> list[str]:
    return sorted(lead["contact_email"] for lead in sim.store_of(name).snapshot())


def test_each_account_is_pushed_its_own_rows_and_a_rerun_sends_nothing(
    crm: mega.SimulatorServer, tmp_path: Path
) -> None:
    rows = write_csv(tmp_path / "rows.csv", people("acme", 4) + people("globex", 3))
    env = env_for(crm, tmp_path)
    ledger_file = str(tmp_path / "w.duckdb")

    first = cli(env, rows, "--account-column", "account", "--duckdb-file", ledger_file)

    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert [line.split(": ")[:3] for line in lines] == [
        ["acme", "mega", "4 rows"],
        ["globex", "mega", "3 rows"],
    ]
    assert "4 created" in lines[0] and "3 created" in lines[1]
    # row-0 … row-2 are in both: created once in each account, nowhere else.
    assert emails(crm, "acme") == [f"p{i}@example.com" for i in range(4)]
    assert emails(crm, "globex") == [f"p{i}@example.com" for i in range(3)]
    assert [len(crm.requests_of(name)) for name in NAMES] == [4, 3]
    tenants = {name: crm.account(name).tenant_id for name in NAMES}
    assert sorted(book(tmp_path / "w.duckdb")) == sorted(
        [(tenants["acme"], f"row-{i}") for i in range(4)]
        + [(tenants["globex"], f"row-{i}") for i in range(3)]
    )
    crm.clear_requests()

    again = cli(env, rows, "--account-column", "account", "--duckdb-file", ledger_file)

    assert again.returncode == 0, again.stderr
    assert ["4 unchanged" in again.stdout, "3 unchanged" in again.stdout] == [True, True]
    assert writes(crm) == []


def test_one_account_pushed_alone_touches_nothing_of_the_others(
    crm: mega.SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in accounts_env(crm, NAMES, "mega", kind="destination").items():
        monkeypatch.setenv(name, value)
    rows = write_csv(tmp_path / "rows.csv", people("-", 3))

    def push_for(account: str, path: Path = rows) -> Any:
        return push(
            "mega",
            file=path,
            key="key",
            field_map=MAP,
            duckdb_file=str(tmp_path / "w.duckdb"),
            account=account,
        )

    assert [push_for(name).created for name in NAMES] == [3, 3]  # the same rows, twice
    assert emails(crm, "acme") == emails(crm, "globex") == [f"p{i}@example.com" for i in range(3)]
    before = book(tmp_path / "w.duckdb")
    globex = crm.account("globex").tenant_id
    crm.clear_requests()

    more = write_csv(tmp_path / "more.csv", people("-", 4))
    again = push_for("acme", more)

    assert (again.account, again.unchanged, again.created) == ("acme", 3, 1)
    assert [len(crm.requests_of(name)) for name in NAMES] == [1, 0]
    after = book(tmp_path / "w.duckdb")
    assert {k: v for k, v in after.items() if k[0] == globex} == {
        k: v for k, v in before.items() if k[0] == globex
    }
    assert len(emails(crm, "acme")) == 4 and len(emails(crm, "globex")) == 3


def test_a_revoked_account_fails_alone(crm: mega.SimulatorServer, tmp_path: Path) -> None:
    rows = write_csv(tmp_path / "rows.csv", people("acme", 2) + people("globex", 2))
    crm.revoke("acme")

    result = cli(
        env_for(crm, tmp_path),
        rows,
        "--account-column",
        "account",
        "--duckdb-file",
        str(tmp_path / "w.duckdb"),
    )

    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert errors[-1] == "push-leads: error: 1 of 2 accounts failed: acme"
    [acme] = [line for line in errors if line.startswith("push-leads: error: acme: ")]
    assert "401" in acme and acme.endswith(
        "check DESTINATION__MEGA__ACCOUNTS__ACME__API_TOKEN (read from the environment)"
    )
    assert crm.account("acme").token not in result.stderr + result.stdout
    assert [line.split(": ")[0] for line in result.stdout.splitlines()] == ["globex"]
    assert emails(crm, "acme") == [] and len(emails(crm, "globex")) == 2


def test_an_account_without_its_own_credentials_or_customer_is_refused(
    crm: mega.SimulatorServer, tmp_path: Path
) -> None:
    rows = write_csv(tmp_path / "rows.csv", people("acme", 2))
    env = env_for(crm, tmp_path)
    globex = crm.account_settings("globex")
    # Set for the single account only: acme would push into globex's customer.
    del env["DESTINATION__MEGA__ACCOUNTS__ACME__API_TOKEN"]
    env["DESTINATION__MEGA__API_TOKEN"] = globex["api_token"]
    refused = cli(env, rows, "--account", "acme", "--duckdb-file", str(tmp_path / "w.duckdb"))

    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "push-leads: error: DESTINATION__MEGA__ACCOUNTS__ACME__API_TOKEN is required: each "
        "account sets its own (not DESTINATION__MEGA__API_TOKEN, the single account's)"
    )

    env = env_for(crm, tmp_path)
    del env["DESTINATION__MEGA__ACCOUNTS__ACME__CUSTOMER_ID"]
    env["DESTINATION__MEGA__CUSTOMER_ID"] = globex["customer_id"]
    no_customer = cli(env, rows, "--account", "acme", "--duckdb-file", str(tmp_path / "w.duckdb"))

    assert no_customer.returncode == 2
    assert "DESTINATION__MEGA__ACCOUNTS__ACME__CUSTOMER_ID is required" in no_customer.stderr
    assert crm.requests == []


def test_rows_must_say_which_account_they_go_to(crm: mega.SimulatorServer, tmp_path: Path) -> None:
    env = env_for(crm, tmp_path)
    rows = write_csv(tmp_path / "rows.csv", people("acme", 2) + people("initech", 3))
    ledger_file = ("--duckdb-file", str(tmp_path / "w.duckdb"))

    unsaid = cli(env, rows, *ledger_file)
    stray = cli(env, rows, "--account-column", "account", *ledger_file)
    typo = cli(env, rows, "--account-column", "acount", *ledger_file)

    assert (unsaid.returncode, stray.returncode, typo.returncode) == (2, 2, 2)
    assert unsaid.stderr.strip() == (
        "push-leads: error: 2 accounts are configured in [destination.mega.accounts] (acme, "
        "globex): push one with --account NAME (account=), or each its own rows with "
        "--account-column COLUMN, the rows' column naming their account"
    )
    [line] = stray.stderr.strip().splitlines()
    assert line.startswith("push-leads: error: 3 rows of the file ")
    assert line.endswith(
        "name no account of [destination.mega.accounts] in their column 'account' "
        "(e.g. 'initech'); the accounts: acme, globex"
    )
    [line] = typo.stderr.strip().splitlines()
    assert "the account column 'acount' is not in the file" in line
    assert crm.requests == []


def test_apollo_accounts_create_in_their_own_organization(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with apollo.ApolloServer(accounts=[apollo.account(name) for name in NAMES]) as sim:
        for name, value in accounts_env(sim, NAMES, "apollo", kind="destination").items():
            monkeypatch.setenv(name, value)
        rows = write_csv(
            tmp_path / "rows.csv",
            [{"id": f"{name}-{i}", "contact_name": f"{name} {i}", "to": name} for name in NAMES
             for i in range(2)],
        )  # fmt: skip

        for name in NAMES:
            result = push(
                "apollo",
                file=rows,
                duckdb_file=str(tmp_path / "w.duckdb"),
                account=name,
                account_column="to",
            )
            assert result.created == 2

        for name in NAMES:
            org = sim.account(name).tenant_id
            assert sorted(lead["contact_name"] for lead in sim.store.leads(org)) == [
                f"{name} 0",
                f"{name} 1",
            ]
            # Its token with its X-Organization-Id (another organization's is answered 403).
            assert [r.status for r in sim.requests_of(name)] == [201, 201]


def test_leads_v1_accounts_keep_their_ledger_rows_apart_by_organization(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = [leads_v1.account(name, 0, seed) for seed, name in enumerate(NAMES)]
    with leads_v1.LeadsV1Server(accounts=accounts) as sim:
        env = accounts_env(sim, NAMES, "leads_v1", "organization_id", kind="destination")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        path = tmp_path / "rows.jsonl"
        path.write_bytes(orjson.dumps({"id": "r1", "name": "Ana", "company": "Co"}))

        created = [
            push("leads_v1", file=path, duckdb_file=str(tmp_path / "w.duckdb"), account=name)
            for name in NAMES
        ]

        assert [result.created for result in created] == [1, 1]
        orgs = [sim.account(name).tenant_id for name in NAMES]
        assert [len(sim.store.leads(org)) for org in orgs] == [1, 1]
        assert sorted(account for account, _ in book(tmp_path / "w.duckdb")) == sorted(orgs)

        monkeypatch.delenv("DESTINATION__LEADS_V1__ACCOUNTS__ACME__ORGANIZATION_ID")
        with pytest.raises(ConfigurationError, match="DESTINATION__LEADS_V1__ACCOUNTS__ACME__ORG"):
            push("leads_v1", file=path, duckdb_file=str(tmp_path / "w.duckdb"), account="acme")


def test_a_dry_run_of_every_account_names_each_rows_account(
    crm: mega.SimulatorServer, tmp_path: Path
) -> None:
    rows = write_csv(tmp_path / "rows.csv", people("acme", 2) + people("globex", 1))
    env = env_for(crm, tmp_path)
    ledger_file = ("--duckdb-file", str(tmp_path / "w.duckdb"))

    dry = cli(env, rows, "--account-column", "account", "--dry-run", *ledger_file)
    badly_named = cli(env, rows, "--account", "Acme", *ledger_file)

    assert dry.returncode == 0, dry.stderr
    lines = [orjson.loads(line) for line in dry.stdout.splitlines()]
    assert [(line["account"], line["key"], line["action"]) for line in lines] == [
        ("acme", "row-0", "create"),
        ("acme", "row-1", "create"),
        ("globex", "row-0", "create"),
    ]
    assert [line.split(": ")[0] for line in dry.stderr.splitlines()] == ["acme", "globex"]
    assert badly_named.returncode == 2
    assert badly_named.stderr.strip() == (
        "push-leads: error: account name 'Acme' of [destination.mega.accounts]: lower-case "
        "letters, digits and _ only (it is part of environment variable and pipeline names)"
    )
    assert crm.requests == []
