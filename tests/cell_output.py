"""Running a cell in the test IPython shell and reading what it showed."""

from __future__ import annotations

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import CapturedIO, capture_output


def run(shell: InteractiveShell, source: str) -> tuple[CapturedIO, object]:
    with capture_output() as captured:
        result = shell.run_cell(source)
    return captured, result


def shown(captured: CapturedIO) -> str:
    """Everything the cell displayed as plain text, and what it printed."""
    return "\n".join(str(o.data.get("text/plain", "")) for o in captured.outputs) + captured.stdout


def assert_one_short_error(captured: CapturedIO, expected: str) -> None:
    """A mistake shows one red line naming the problem, never a traceback."""
    text = shown(captured)
    assert "nbext error" in text and expected in text
    assert "Traceback" not in text
