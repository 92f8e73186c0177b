"""The issue's targets, checked against the medians of a run.

- Backfill wall less the fixed start-up cost (the wall of a no-change run) ≤ 1.5 × the floor.
- ≥ 3 × faster than the rest_api job (whole backfill walls compared; the net one is shown too).
- Peak RSS < 512 MB, and within 20% between the smallest and the largest size.
- No-change run: ≤ 2 requests and ≤ 3 s wall (the whole process, what a user waits for).
- A 1% incremental costs in proportion to the 1%: requests ≤ 1% of the backfill's + 2, and
  wall beyond the no-change run ≤ 2 × 1% of the backfill's net wall. Shown beside it: the 1%
  run's wall beyond a run with one lead changed (what grows with the changes, without the fixed
  cost of one merge load).
- With 100 ms per request: sequential backfill wall ≤ 1.1 × pages × 100 ms.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.report import Stats

_SIZE = re.compile(r"^([\d,]+) leads$")
_LATENCY = re.compile(r"^latency ([\d.]+) ms, ([\d,]+) leads$")


@dataclass
class Target:
    name: str
    measured: str
    passed: bool | None


def _check(name: str, value: float | None, limit: float, text: str, below: bool = True) -> Target:
    if value is None:
        return Target(name, "not measured", None)
    return Target(name, text, value <= limit if below else value >= limit)


def size_targets(size: str, cases: dict[str, Stats]) -> list[Target]:
    def med(case: str, key: str = "wall_s") -> float | None:
        st = cases.get(case)
        return st.med(key) if st else None

    out: list[Target] = []
    floor, backfill, nochange = med("floor"), med("connector"), med("connector_nochange")
    net = backfill - nochange if backfill is not None and nochange is not None else None
    ratio = net / floor if net is not None and floor else None
    out.append(
        _check(
            f"{size}: backfill − no-change ≤ 1.5 × floor",
            ratio,
            1.5,
            f"({fmt(backfill)} − {fmt(nochange)}) / {fmt(floor)} s = {fmt(ratio)}×"
            + paired_text(cases),
        )
    )
    rest = med("rest_api")
    slower = rest / backfill if rest and backfill else None
    net_text = f"; vs net backfill {rest / net:.1f}×" if rest and net else ""
    out.append(
        _check(
            f"{size}: ≥ 3 × faster than rest_api",
            slower,
            3.0,
            f"{fmt(rest)} / {fmt(backfill)} s = {fmt(slower, 1)}×{net_text}"
            if rest
            else "rest_api not run at this size",
            below=False,
        )
    )
    rss = med("connector", "peak_rss_mb")
    out.append(_check(f"{size}: backfill peak RSS < 512 MB", rss, 511.99, f"{fmt(rss, 0)} MB"))
    requests, process = (
        med("connector_nochange", "sim_requests"),
        med("connector_nochange", "process_s"),
    )
    out.append(
        _check(f"{size}: no-change ≤ 2 requests", requests, 2, f"{fmt(requests, 0)} requests")
    )
    out.append(
        _check(
            f"{size}: no-change ≤ 3 s wall",
            process,
            3.0,
            f"{fmt(process)} s whole process ({fmt(nochange)} s inside `run()`)",
        )
    )
    out += incremental_targets(size, med)
    return out


def paired_ratios(cases: dict[str, Stats]) -> list[float]:
    """(backfill − no-change) / floor within each repeat: the three ran seconds apart, so a
    host that drifts over the whole bench moves them together."""

    def walls(case: str) -> dict[int, float]:
        st = cases.get(case)
        return {int(r["repeat"]): float(r["wall_s"]) for r in st.ok} if st else {}

    floor, backfill, nochange = walls("floor"), walls("connector"), walls("connector_nochange")
    return [
        (backfill[r] - nochange[r]) / floor[r]
        for r in sorted(floor)
        if r in backfill and r in nochange and floor[r] > 0
    ]


def paired_text(cases: dict[str, Stats]) -> str:
    ratios = paired_ratios(cases)
    if len(ratios) < 2:
        return ""
    middle = statistics.median(ratios)
    return f"; per repeat: median {middle:.2f}× ({min(ratios):.2f}–{max(ratios):.2f}×)"


def incremental_targets(size: str, med: Any) -> list[Target]:
    backfill_req, inc_req = (
        med("connector", "sim_requests"),
        med("connector_incremental", "sim_requests"),
    )
    backfill, nochange, inc = (
        med("connector"),
        med("connector_nochange"),
        med("connector_incremental"),
    )
    out: list[Target] = []
    if backfill_req is None or inc_req is None:
        return [Target(f"{size}: 1% incremental in proportion", "not measured", None)]
    allowed = math.ceil(backfill_req / 100) + 2
    out.append(
        _check(
            f"{size}: 1% incremental requests ≤ 1% of backfill + 2",
            inc_req,
            allowed,
            f"{inc_req:.0f} (allowed {allowed}; backfill {backfill_req:.0f})",
        )
    )
    if None in (backfill, nochange, inc):
        return out
    share = (backfill - nochange) / 100
    extra = inc - nochange
    out.append(
        _check(
            f"{size}: 1% incremental wall − no-change ≤ 2 × 1% of net backfill",
            extra / share if share > 0 else None,
            2.0,
            f"{fmt(inc)} − {fmt(nochange)} = {fmt(extra)} s vs 1% = {fmt(share)} s "
            f"({extra / share:.1f}×)"
            if share > 0
            else "net backfill ≤ 0",
        )
    )
    one = med("connector_incremental_1")
    if one is not None and share > 0:
        grown = inc - one
        out.append(
            _check(
                f"{size}: 1% incremental wall − 1-lead incremental ≤ 2 × 1% of net backfill "
                "(the part that grows with the changes)",
                grown / share,
                2.0,
                f"{fmt(inc)} − {fmt(one)} = {fmt(grown)} s vs 1% = {fmt(share)} s "
                f"({grown / share:.1f}×)",
            )
        )
    return out


def latency_targets(section: str, cases: dict[str, Stats], ms: float) -> list[Target]:
    out = []
    for name in ("connector", "connector_prefetch0"):
        st = cases.get(name)
        if st is None:
            continue
        wall, pages = st.med("wall_s"), st.med("sim_requests")
        if wall is None or not pages:
            out.append(Target(f"{section}: {name} ≤ 1.1 × pages × {ms:g} ms", "not measured", None))
            continue
        budget = pages * ms / 1000
        out.append(
            _check(
                f"{section}: {name} wall ≤ 1.1 × pages × {ms:g} ms",
                wall / budget,
                1.1,
                f"{fmt(wall)} s / ({pages:.0f} × {ms:g} ms = {budget:.1f} s) "
                f"= {wall / budget:.3f}×",
            )
        )
    return out


def evaluate(sections: dict[str, dict[str, Stats]]) -> list[Target]:
    out: list[Target] = []
    rss: list[tuple[int, float]] = []
    for section, cases in sections.items():
        size_match, latency_match = _SIZE.match(section), _LATENCY.match(section)
        if size_match:
            out += size_targets(section, cases)
            value = cases["connector"].med("peak_rss_mb") if "connector" in cases else None
            if value is not None:
                rss.append((int(size_match.group(1).replace(",", "")), value))
        elif latency_match:
            out += latency_targets(section, cases, float(latency_match.group(1)))
    if len(rss) >= 2:
        rss.sort()
        (small_n, small), (big_n, big) = rss[0], rss[-1]
        growth = big / small - 1
        out.append(
            _check(
                f"peak RSS within 20% from {small_n:,} to {big_n:,} leads",
                abs(growth),
                0.2,
                f"{small:.0f} → {big:.0f} MB ({growth:+.0%})",
            )
        )
    return out


def fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"
