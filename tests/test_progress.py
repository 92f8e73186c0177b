"""Progress as a user sees it: plain log lines off a terminal, a live bar on one, nothing when
quiet. A fake clock drives every test; the bar is checked on a small terminal emulator, so the
assertions are about the screen, not about escape codes."""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Iterator

import pytest
from rich.console import Console
from rich.file_proxy import FileProxy

from pipelines.progress import Progress, describe, duration

MEGA = "crm_leads"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def screen(output: str) -> list[str]:
    """What a terminal shows after ``output``: text, \\r, \\n, cursor up (ESC[nA) and erase
    line (ESC[2K); colours and cursor visibility are dropped. Trailing blank lines removed."""
    lines, row, col = [""], 0, 0
    for token in re.findall(r"\x1b\[[0-9;?]*[A-Za-z]|\r|\n|[^\x1b\r\n]+", output):
        if token == "\n":
            row, col = row + 1, 0
            lines += [""] * (row + 1 - len(lines))
        elif token == "\r":
            col = 0
        elif token.endswith("A"):
            row = max(0, row - int(token[2:-1] or 1))
        elif token == "\x1b[2K":
            lines[row] = ""
        elif not token.startswith("\x1b"):
            line = lines[row].ljust(col)
            lines[row] = line[:col] + token + line[col + len(token) :]
            col += len(token)
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.rstrip() for line in lines]


@pytest.fixture
def info(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger=MEGA):
        yield caplog


def progress_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith(MEGA)]


def terminal(width: int = 80) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=width, color_system="standard"), out


def test_the_line_says_done_total_percent_rate_eta_and_page() -> None:
    assert (
        describe(12_300, 50_000, 4.0, 123)
        == "12,300 / 50,000 leads (24.6 %), 3,075 leads/s, ETA 13 s, page 123"
    )
    assert describe(12_300, None, 4.0, 123) == "12,300 leads, 3,075 leads/s, page 123"
    assert describe(0, 50_000, 0.0, 0) == "0 / 50,000 leads (0.0 %), page 0"
    # 99.96 % is not done yet: rounded down, never shown as 100.0 %.
    assert describe(49_998, 50_000, 1.0).startswith("49,998 / 50,000 leads (99.9 %)")
    assert [duration(s) for s in (0.2, 59, 61, 3599.5, 7380)] == [
        "1 s",
        "59 s",
        "1 min 01 s",
        "1 h 00 min",
        "2 h 03 min",
    ]


def test_off_a_terminal_one_plain_line_every_few_seconds(info: pytest.LogCaptureFixture) -> None:
    clock, stream = Clock(), io.StringIO()
    with Progress(50_000, stream=stream, clock=clock, every_s=5) as progress:
        assert not progress.is_bar
        for _ in range(12):  # a page of 100 leads a second
            clock.now += 1
            progress.advance(1, 100)
    assert progress_lines(info) == [
        "500 / 50,000 leads (1.0 %), 100 leads/s, ETA 8 min 15 s, page 5",
        "1,000 / 50,000 leads (2.0 %), 100 leads/s, ETA 8 min 10 s, page 10",
    ]
    assert stream.getvalue() == ""  # lines go through logging, wherever it is configured


def test_a_total_known_after_the_first_page(info: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    progress = Progress(stream=io.StringIO(), clock=clock, every_s=2)
    clock.now += 2
    progress.advance(1, 100)
    progress.set_total(1_000)
    progress.set_total(400)  # a later page's total counts from a later instant: ignored
    clock.now += 2
    progress.advance(1, 100)
    progress.close()
    assert progress_lines(info) == [
        "100 leads, 50 leads/s, page 1",
        "200 / 1,000 leads (20.0 %), 50 leads/s, ETA 16 s, page 2",
    ]


def test_leads_read_twice_cap_the_percentage(info: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    progress = Progress(1_000, stream=io.StringIO(), clock=clock, every_s=1)
    clock.now += 1
    progress.advance(11, 1_050)
    assert progress_lines(info) == ["1,050 / 1,000 leads (100.0 %), 1,050 leads/s, page 11"]


def test_on_a_terminal_a_live_bar_and_no_plain_lines(info: pytest.LogCaptureFixture) -> None:
    clock, (console, out) = Clock(), terminal()
    progress = Progress(50_000, clock=clock, every_s=1, console=console)
    assert progress.is_bar
    assert screen(out.getvalue()) == ["━" * 40 + " waiting for the first page"]
    for _ in range(3):
        clock.now += 1
        progress.advance(1, 10_000)
    shown = screen(out.getvalue())
    assert len(shown) == 1
    assert shown[0].endswith(" 30,000 / 50,000 leads (60.0 %), 10,000 leads/s, ETA 2 s")
    assert progress_lines(info) == []
    progress.close()


def test_log_lines_print_above_the_bar_and_close_erases_it(
    info: pytest.LogCaptureFixture,
) -> None:
    clock, (console, out) = Clock(), terminal()
    handler = logging.StreamHandler(out)  # as `mega-leads` logs to the bar's stderr
    logging.getLogger(MEGA).addHandler(handler)
    try:
        with Progress(50_000, clock=clock, console=console) as progress:
            clock.now += 1
            progress.advance(1, 10_000)
            logging.getLogger(MEGA).info("checkpoint 1: 1 pages")
            clock.now += 1
            progress.advance(1, 10_000)
            shown = screen(out.getvalue())
            assert shown[0] == "checkpoint 1: 1 pages"
            assert shown[1].endswith(" 20,000 / 50,000 leads (40.0 %), 10,000 leads/s, ETA 3 s")
        assert handler.stream is out  # the handler writes straight to its stream again
    finally:
        logging.getLogger(MEGA).removeHandler(handler)
    # Nothing half-drawn: the bar is gone, the log line stays, the cursor is visible again.
    assert screen(out.getvalue()) == ["checkpoint 1: 1 pages"]
    assert out.getvalue().rfind("\x1b[?25h") > out.getvalue().rfind("\x1b[?25l")


def test_redraws_at_most_four_times_a_second(info: pytest.LogCaptureFixture) -> None:
    clock, (console, out) = Clock(), terminal()
    progress = Progress(None, clock=clock, console=console)
    for _ in range(100):  # 100 pages in a second
        clock.now += 0.01
        progress.advance(1, 100)
    progress.close()
    assert out.getvalue().count(" leads/s") in (4, 5, 6)


def test_quiet_prints_nothing(caplog: pytest.LogCaptureFixture) -> None:
    clock, (console, out) = Clock(), terminal()
    with caplog.at_level(logging.WARNING, logger=MEGA):
        for progress in (
            Progress(1_000, clock=clock, every_s=1, console=console),
            Progress(1_000, stream=io.StringIO(), clock=clock, every_s=1),
        ):
            clock.now += 5
            progress.advance(1, 100)
            progress.close()
            assert not progress.is_bar
    assert out.getvalue() == ""
    assert caplog.records == []


def test_the_stream_decides_bar_or_lines(
    info: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TERM"):
        monkeypatch.delenv(name, raising=False)
    assert Progress(stream=TtyStream()).is_bar
    assert not Progress(stream=TtyStream(), bar=False).is_bar  # forced plain
    # Not a TTY: plain lines, even where FORCE_COLOR (some CI) would make rich draw.
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert not Progress(stream=io.StringIO()).is_bar


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_log_lines_to_another_stream_on_the_same_terminal_go_above_the_bar(
    info: pytest.LogCaptureFixture,
) -> None:
    # The demo logs to stdout while the bar is on stderr: one terminal, two streams.
    controller, device = os.openpty()
    with open(device, "w") as bar_stream, open(os.dup(device), "w") as log_stream:
        console = Console(file=bar_stream, force_terminal=True, width=80)
        handler = logging.StreamHandler(log_stream)
        logging.getLogger(MEGA).addHandler(handler)
        try:
            with Progress(100, clock=Clock(), console=console):
                assert isinstance(handler.stream, FileProxy)
            assert handler.stream is log_stream
        finally:
            logging.getLogger(MEGA).removeHandler(handler)
            os.close(controller)
