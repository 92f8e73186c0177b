"""What a push did: counts per outcome, the rows rejected or skipped and why, and its summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sources.core.errors import ConnectorError

LISTED = 20  # rows the summary lists itself; more go to a file it names


@dataclass
class PushResult:
    target: str
    account: str | None = None  # one of several (README: Many accounts)
    dry_run: bool = False
    rows: int = 0
    created: int = 0
    merged: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0
    failed: int = 0
    requests: int = 0
    retries: int = 0
    duration_s: float = 0.0
    rejections: list[tuple[str, str]] = field(default_factory=list)  # (row key, reason)
    skips: list[str] = field(default_factory=list)  # row keys changed on a create-only target
    error: str | None = None
    details_file: Path | None = None  # where the summary lists rows when they are many
    ledger_file: Path | None = None

    def count(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)

    def reject(self, row_key: str, reason: str) -> None:
        self.count("rejected")
        self.rejections.append((row_key, reason))

    def details(self) -> list[str]:
        """A line per row rejected or skipped."""
        lines = [f"rejected {row_key}: {reason}" for row_key, reason in self.rejections]
        return lines + [
            f"skipped {row_key}: changed since it was pushed; {self.target} only creates "
            "(--on-change fail makes this a rejection)"
            for row_key in self.skips
        ]

    def summary(self) -> str:
        """The counts, and every row rejected or skipped: listed, or (more than LISTED, with a
        ``details_file``) written to that file, which the summary names."""
        details_file = self.details_file
        verb = "would send" if self.dry_run else "pushed"
        text = (
            (f"{self.account}: " if self.account else "")
            + f"{self.target}: {self.rows} rows: {self.created} created, {self.merged} merged, "
            f"{self.updated} updated, {self.unchanged} unchanged, {self.skipped} skipped "
            f"(create-only), {self.rejected} rejected, {self.failed} failed; {verb} with "
            f"{self.requests} requests ({self.retries} retries) in {self.duration_s:.1f} s"
        )
        if self.ledger_file is not None:
            recorded = "nothing recorded (dry run) in" if self.dry_run else "recorded in"
            text += f"; {recorded} the ledger in {self.ledger_file}"
        lines = self.details()
        if len(lines) > LISTED and details_file is not None:
            details_file.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            return f"{text}\n  the {len(lines)} rows rejected or skipped, and why: {details_file}"
        return "".join([text, *(f"\n  {line}" for line in lines)])


class PushFailed(ConnectorError):
    """A push that stopped early; ``result`` counts what was done (kept in the ledger);
    ``interrupted``: by Ctrl-C or SIGTERM."""

    def __init__(self, reason: str, result: PushResult, interrupted: bool = False) -> None:
        super().__init__(reason)
        self.result = result
        self.interrupted = interrupted
