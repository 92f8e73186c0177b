"""Tests of the orchestrator examples (orchestrators/): what they share."""

from __future__ import annotations


def assert_one_line_reason(message: str, *expected: str) -> str:
    """A failure's message is the run's one-line reason (no traceback), naming ``expected``."""
    text = message.strip()
    assert text and "\n" not in text and "Traceback" not in text, message
    for part in expected:
        assert part in text, text
    return text
