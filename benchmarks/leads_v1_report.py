"""The Leads v1 benchmark's report: one line per case on the console, and the table that
replaces the ``<!-- LEADS_V1 -->`` block of RESULTS.md, keeping its hand-written analysis."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_BLOCK = re.compile(r"<!-- LEADS_V1 -->.*?<!-- /LEADS_V1 -->\n?", re.S)
_ANALYSIS_OPEN, _ANALYSIS_CLOSE = "<!-- LEADS_V1 ANALYSIS -->", "<!-- /LEADS_V1 ANALYSIS -->"
_KEPT = re.compile(f"{_ANALYSIS_OPEN}.*?{_ANALYSIS_CLOSE}", re.S)


def brief(record: dict[str, Any]) -> str:
    if "error" in record and "wall_s" not in record:
        return f"ERROR {record['error']}"
    error = f" ERROR {record['error']}" if "error" in record else ""
    return (
        f"wall {record['wall_s']:.2f} s, {record.get('list_requests')} list + "
        f"{record.get('detail_requests')} detail requests ({record['sim_requests']} served), "
        f"floor {record.get('floor_s', 0):.2f} s, ratio {record.get('ratio', 0):.3f}, "
        f"RSS {record.get('peak_rss_mb', 0):.0f} MB, other CPU "
        f"{record.get('foreign_cpu_s', 0):.1f} s{error}"
    )


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    from benchmarks.report import median

    return median(float(r[key]) for r in runs if isinstance(r.get(key), int | float))


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def table_lines(runs: list[dict[str, Any]]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    lines = [
        "| case | K | ok | wall s | list requests | detail requests | requests served "
        "| floor s | wall ÷ floor | extract s | normalize + load s | peak RSS MB | ran beside |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    medians: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(r["case"] for r in runs):
        every = [r for r in runs if r["case"] == name]
        ok = [r for r in every if "error" not in r]
        steps = [r["steps"] for r in ok if r.get("steps")]
        med = {key: _median(ok, key) for key in ("wall_s", "floor_s", "ratio", "peak_rss_mb")}
        for key in ("list_requests", "detail_requests", "sim_requests"):
            med[key] = _median(ok, key)
        medians[name] = med
        extract = _median(steps, "extract")
        later = _median([{"s": s["normalize"] + s["load"]} for s in steps], "s")
        beside = sorted({other for r in every for other in r.get("overlapped_with", [])})
        lines.append(
            f"| {name} | {every[0]['k']} | {len(ok)}/{len(every)} | {_fmt(med['wall_s'])} "
            f"| {_fmt(med['list_requests'], 0)} | {_fmt(med['detail_requests'], 0)} "
            f"| {_fmt(med['sim_requests'], 0)} | {_fmt(med['floor_s'])} "
            f"| {_fmt(med['ratio'], 3)} | {_fmt(extract)} | {_fmt(later)} "
            f"| {_fmt(med['peak_rss_mb'], 0)} | {', '.join(beside) or 'nothing (alone)'} |"
        )
    return lines, medians


def summary_lines(medians: dict[str, dict[str, Any]]) -> list[str]:
    def wall(case: str) -> float | None:
        return medians.get(case, {}).get("wall_s")

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}×" if a is not None and b else "not measured"

    k8, k1, rest, nochange = (
        wall(c) for c in ("connector_k8", "connector_k1", "rest_api", "connector_k8_nochange")
    )
    return [
        f"- K=8 backfill ÷ its floor: {ratio(k8, medians.get('connector_k8', {}).get('floor_s'))}"
        f"; K=1 backfill ÷ K=8 backfill: {ratio(k1, k8)}",
        f"- dlt rest_api (sequential) ÷ connector K=1: {ratio(rest, k1)}; ÷ connector K=8: "
        f"{ratio(rest, k8)}",
        f"- no-change run ÷ K=8 backfill: {ratio(nochange, k8)}",
    ]


def render(data: dict[str, Any], analysis: str = "") -> str:
    lines, medians = table_lines(data["runs"])
    errors = [f"- {r['case']} #{r['repeat']}: {r['error']}" for r in data["runs"] if "error" in r]
    m = data["machine"]
    return "\n".join(
        [
            "<!-- LEADS_V1 -->",
            "## Leads v1 detail requests (`python -m benchmarks.leads_v1`; rendered, the "
            "analysis below is not)",
            "",
            f"{data['leads']:,} leads, {data['latency'] * 1000:g} ms added by the simulator to "
            f"every request, list pages of 200; {data['repeats']} repeat(s), medians; "
            f"{m['cores']} cores, dlt {m['dlt']}; commit {data['code']['commit']} (connector "
            f"files {data['code']['connector_files_sha256']}, uncommitted changes: "
            f"{data['code']['uncommitted_changes']}). Each case is a fresh interpreter against "
            "a simulator process of its own; *wall* is timed inside it around `run()` / "
            "`pipeline.run()`. *Floor* = (list requests + detail requests ÷ K) × latency. "
            "Requests are the client's (list = pages, detail = records asked for) and the "
            "simulator's count (`/_sim/stats`). Each case's table was checked to hold every "
            "lead once. *Ran beside*: cases of this bench running at the same time.",
            "",
            *lines,
            "",
            *summary_lines(medians),
            *(["", "Errors:", *errors] if errors else []),
            "",
            analysis or f"{_ANALYSIS_OPEN}\n(hand-written; kept on re-render)\n{_ANALYSIS_CLOSE}",
            "<!-- /LEADS_V1 -->",
            "",
        ]
    )


def write_markdown(json_path: Path, md_path: Path) -> None:
    data = json.loads(json_path.read_text())
    text = md_path.read_text() if md_path.exists() else ""
    kept = _KEPT.search(text)
    block = render(data, kept.group(0) if kept else "")
    if _BLOCK.search(text):
        text = _BLOCK.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block
    md_path.write_text(text)
