"""The oldest and the newest ``openai`` release of the compatibility matrix, in ``make test``.

``tests/compat/matrix.py --ends`` builds (once, cached) a venv for each of the two
releases, starts its own ``nbext serve`` and runs the contract suite under each;
the full matrix over every release is ``python tests/compat/matrix.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

MATRIX = Path(__file__).parent / "compat" / "matrix.py"


@pytest.mark.timeout(1800)  # a first run builds two venvs with pip
def test_oldest_and_newest_sdk_release_pass_the_contract_suite() -> None:
    finished = subprocess.run(
        [sys.executable, str(MATRIX), "--ends"], capture_output=True, text=True
    )
    report = finished.stdout + finished.stderr
    assert finished.returncode == 0, report
    summary = [
        line for line in report.splitlines() if line.startswith("openai ") and "passed" in line
    ]
    assert len(summary) == 2 and all(line.endswith("ok") for line in summary), report
