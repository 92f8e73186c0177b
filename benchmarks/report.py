"""Render ``results.json`` as ``RESULTS.md``: medians, ratios and the issue's targets.

A hand-written block between ``<!-- ANALYSIS -->`` and ``<!-- /ANALYSIS -->`` in an existing
RESULTS.md is kept when the file is rendered again.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import statistics
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.targets import Target, evaluate

STEPS = ("extract", "normalize", "load")
_ANALYSIS = re.compile(r"<!-- ANALYSIS -->.*?<!-- /ANALYSIS -->", re.S)
# Sections other benchmarks own (benchmarks/postgres.py): kept as they are when this one renders.
# Blocks other benchmarks keep in RESULTS.md (postgres.py, leads_v1.py, push.py,
# object_storage.py, accounts.py).
_OTHER_SECTIONS = re.compile(
    r"<!-- (POSTGRES|LEADS_V1|PUSH|OBJECT_STORAGE|ACCOUNTS) -->.*?<!-- /\1 -->", re.S
)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    versions = {}
    for package in ("dlt", "duckdb", "pyarrow", "httpx", "orjson"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "-"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        **versions,
    }


def median(values: Iterable[float]) -> float | None:
    data = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(data) if data else None


class Stats:
    """Medians of the successful runs of one (section, case)."""

    def __init__(self, runs: list[dict[str, Any]]) -> None:
        self.runs = runs
        self.ok = [r for r in runs if "error" not in r]

    def med(self, key: str) -> float | None:
        return median(float(r[key]) for r in self.ok if isinstance(r.get(key), int | float))

    def step(self, name: str) -> float | None:
        if name == "other":  # wall outside extract / normalize / load, per run
            return median(
                float(r["wall_s"]) - sum(float(r["steps"][s]) for s in STEPS)
                for r in self.ok
                if r.get("steps")
            )
        return median(float(r["steps"][name]) for r in self.ok if r.get("steps"))

    def span(self, key: str) -> str:
        values = [float(r[key]) for r in self.ok if isinstance(r.get(key), int | float)]
        if len(values) < 2:
            return ""
        return f"{min(values):.2f}–{max(values):.2f}"

    @property
    def errors(self) -> list[str]:
        return [str(r["error"]) for r in self.runs if "error" in r]


def group(runs: list[dict[str, Any]]) -> dict[str, dict[str, Stats]]:
    sections: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for run in runs:
        sections.setdefault(run["section"], {}).setdefault(run["case"], []).append(run)
    return {s: {c: Stats(rs) for c, rs in cases.items()} for s, cases in sections.items()}


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def case_table(cases: dict[str, Stats]) -> list[str]:
    lines = [
        "| case | runs | whole process s (median) | inside: wall s (median) | range | CPU s "
        "| leads | leads/s | peak RSS MB | requests | other CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, st in cases.items():
        wall, leads = st.med("wall_s"), st.med("leads")
        rate = leads / wall if wall and leads else None
        runs = f"{len(st.ok)}/{len(st.runs)}"
        lines.append(
            f"| {name} | {runs} | {fmt(st.med('process_s'))} | {fmt(wall)} | {st.span('wall_s')} "
            f"| {fmt(st.med('cpu_s'), 1)} | {fmt(leads, 0)} | {fmt(rate, 0)} "
            f"| {fmt(st.med('peak_rss_mb'), 0)} "
            f"| {fmt(st.med('sim_requests'), 0)} | {fmt(st.med('foreign_cpu_s'), 1)} |"
        )
    return lines


def steps_table(cases: dict[str, Stats]) -> list[str]:
    rows = []
    for name, st in cases.items():
        if not any(r.get("steps") for r in st.ok):
            continue
        parts = [st.step(s) for s in STEPS]
        rows.append(
            f"| {name} | {fmt(st.step('runs'), 0)} | {fmt(parts[0])} | {fmt(parts[1])} "
            f"| {fmt(parts[2])} | {fmt(st.step('other'))} | {fmt(st.med('import_s'))} "
            f"| {top_jobs(st)} |"
        )
    if not rows:
        return []
    return [
        "",
        "dlt steps (median seconds summed over the run's `pipeline.run` calls; *other* = wall "
        "minus the three, i.e. pipeline set-up, state sync, checks, manifest; *import* is "
        "outside the wall):",
        "",
        "| case | pipeline runs | extract | normalize | load | other | import "
        "| load jobs, job-seconds (parquet = copy into staging, sql = merge) |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ]


def top_jobs(st: Stats, limit: int = 4) -> str:
    kinds: dict[str, list[float]] = {}
    for run in st.ok:
        for kind, seconds in (run.get("steps_each") or {}).get("jobs", {}).items():
            kinds.setdefault(kind, []).append(float(seconds))
    medians = sorted(((median(v) or 0.0, k) for k, v in kinds.items()), reverse=True)
    return ", ".join(f"{k} {v:.2f}" for v, k in medians[:limit])


def ratio(a: float | None, b: float | None, unit: str = "×", digits: int = 2) -> str:
    return f"{a / b:.{digits}f}{unit}" if a is not None and b else "–"


def ratios_lines(cases: dict[str, Stats]) -> list[str]:
    def med(case: str, key: str = "wall_s") -> float | None:
        st = cases.get(case)
        return st.med(key) if st else None

    floor, backfill, nochange = med("floor"), med("connector"), med("connector_nochange")
    net = backfill - nochange if backfill is not None and nochange is not None else None
    rest, leads = med("rest_api"), med("connector", "leads")
    per_lead = [
        f"{label} {1e6 * wall / leads:.0f} µs"
        for label, wall in (("floor", floor), ("connector net", net), ("rest_api", rest))
        if wall is not None and leads
    ]
    inc_req, back_req = (
        med("connector_incremental", "sim_requests"),
        med("connector", "sim_requests"),
    )
    return [
        "Ratios (medians):",
        "",
        f"- connector backfill / floor: {ratio(backfill, floor)}; net of the no-change run: "
        f"{ratio(net, floor)}",
        f"- rest_api / connector: wall {ratio(rest, backfill)}, peak RSS "
        f"{ratio(med('rest_api', 'peak_rss_mb'), med('connector', 'peak_rss_mb'))}",
        f"- floor with stdlib `json` / with `orjson`: {ratio(med('floor_stdlib_json'), floor)} "
        f"(decode only: {ratio(med('floor_stdlib_json', 'decode_s'), med('floor', 'decode_s'))})",
        f"- 1% incremental / backfill: requests {ratio(inc_req, back_req, '', 3)}, wall "
        f"{ratio(med('connector_incremental'), backfill, '', 3)}; rest_api "
        f"{ratio(med('rest_api_incremental'), rest, '', 3)}",
        f"- wall per lead: {', '.join(per_lead) or '–'}",
    ]


def targets_table(targets: list[Target]) -> list[str]:
    lines = ["| target | measured | result |", "|---|---|---|"]
    for t in targets:
        verdict = {True: "PASS", False: "**FAIL**", None: "n/a"}[t.passed]
        lines.append(f"| {t.name} | {t.measured} | {verdict} |")
    return lines


def variants_table(
    cases: dict[str, Stats], baseline: Stats | None, defaults: dict[str, str]
) -> list[str]:
    """``baseline``: the in-block "default" runs if there are any, else the size block's."""
    from benchmarks.bench import VARIANTS

    base = baseline.med("wall_s") if baseline else None
    lines = [
        "| variant | what changes | runs | wall s | range | vs default | peak RSS MB | requests |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = dict(cases)
    if "default" not in rows and baseline is not None:
        rows = {"default (size block)": baseline, **rows}
    for name, st in rows.items():
        wall = st.med("wall_s")
        ratio = f"{wall / base:.2f}×" if wall and base else "–"
        what = VARIANTS[name][2] if name in VARIANTS else ""
        if name.startswith("default"):
            what = describe_defaults(defaults)
        lines.append(
            f"| {name} | {what} | {len(st.ok)}/{len(st.runs)} | {fmt(wall)} | {st.span('wall_s')} "
            f"| {ratio} | {fmt(st.med('peak_rss_mb'), 0)} | {fmt(st.med('sim_requests'), 0)} |"
        )
    return lines


def code_line(cases: dict[str, Stats]) -> str:
    counts: dict[str, int] = {}
    for st in cases.values():
        for run in st.runs:
            code = str(run.get("code", "?"))
            counts[code] = counts.get(code, 0) + 1
    listed = ", ".join(f"`{code}` ({n} runs)" for code, n in counts.items())
    return f"Connector code (sha256 of sources/ + pipelines/ when each run started): {listed}."


def describe_defaults(defaults: dict[str, str]) -> str:
    if not defaults:
        return "the connector's defaults"
    parts = [f"{k.lower()} {v}" for k, v in defaults.items()]
    return ", ".join(parts) + ", 1 range worker, 1 normalize worker"


def render(data: dict[str, Any], analysis: str | None) -> str:
    m = data["machine"]
    code = data.get("code", {})
    defaults = data.get("connector_defaults", {})
    sections = group(data["runs"])
    targets = evaluate(sections)
    out = [
        "# Benchmark results",
        "",
        f"Command: `{data['command'].strip()}` — generated by `benchmarks/report.py` from "
        f"`{Path(data['settings'].get('json', 'results.json')).name}` (raw numbers of every "
        "run).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, {m['os']}; Python "
        f"{m['python']}, dlt {m['dlt']}, duckdb {m['duckdb']}, pyarrow {m['pyarrow']}, httpx "
        f"{m['httpx']}, orjson {m['orjson']}. The simulator runs as a separate process on the same "
        "machine (loopback HTTP), so it competes for the 2 cores.",
        "",
        f"Code measured: commit {code.get('commit', '?')}, connector files (sources/, "
        f"pipelines/) sha256 {code.get('connector_files_sha256', '?')}, uncommitted changes: "
        f"{code.get('uncommitted_changes', '?')}.",
        "",
        "Method: each case is a fresh interpreter (`python -m benchmarks.case`); *wall* is timed "
        "inside it around the work only (`run()` / `pipeline.run()` / the paging loop), *process* "
        "is the whole child from the parent (interpreter + imports + work). Peak RSS is the "
        "job's: the larger of the child's `ru_maxrss` and the resident size of the child and "
        "its own children (the connector's fetch process) summed every 50 ms "
        "(`benchmarks/memory.py`); *CPU s* their user + system CPU, imports included. Both "
        "are taken before the bench checks the loaded rows (a distinct count of the ids). "
        "Requests are counted by the simulator (`/_sim/stats`). *Other CPU s*: CPU seconds "
        "that processes other than the case and the simulator used on the host "
        "meanwhile (the machine is shared; before each case the bench waits up to "
        f"{data['settings'].get('wait_quiet', 0):g} s for them to go quiet). Medians of "
        f"{data['settings'].get('repeats')} runs unless *runs* says otherwise. Every backfill "
        "starts with a fresh DuckDB file and pipelines dir; the incremental run follows "
        "`POST /_sim/touch` of 1% of the leads, the no-change run follows it directly.",
        "",
    ]
    if analysis:
        out += [analysis, ""]
    out += ["## Targets", "", *targets_table(targets), ""]
    for section, cases in sections.items():
        if section.startswith("variants"):
            continue
        out += [f"## {section}", "", code_line(cases), "", *case_table(cases)]
        out += [*steps_table(cases), ""]
        if "connector_nochange" in cases:
            out += [*ratios_lines(cases), ""]
        errors = [f"- {name}: {e}" for name, st in cases.items() for e in st.errors]
        if errors:
            out += ["Errors:", "", *errors, ""]
    for section, cases in sections.items():
        if not section.startswith("variants"):
            continue
        size_section = section.split(", ", 1)[1]
        baseline = cases.get("default") or sections.get(size_section, {}).get("connector")
        out += [
            f"## Connector settings ({section})",
            "",
            code_line(cases),
            "",
            *variants_table(cases, baseline, defaults),
        ]
        out += ["", *steps_table(cases), ""]
    if data.get("notes"):
        out += ["## Notes", "", *[f"- {n}" for n in data["notes"]], ""]
    return "\n".join(out)


def write(json_path: Path, md_path: Path) -> None:
    data = json.loads(json_path.read_text())
    analysis, others = None, []
    if md_path.exists():
        text = md_path.read_text()
        match = _ANALYSIS.search(text)
        analysis = match.group(0) if match else None
        others = [match.group(0) for match in _OTHER_SECTIONS.finditer(text)]
    md_path.write_text("\n\n".join([render(data, analysis).rstrip(), *others]) + "\n")
