"""The Binder set-up, proven without Docker: a fresh virtualenv built from the
``binder/`` files alone (pinned requirements, then ``postBuild``) runs every
tutorial under nbval, as a workshop participant's session would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BINDER = REPO / "binder"
TEST_RUNNER = ("pytest", "nbval")
"""Installed on top of the Binder environment only to run the check."""


def run(command: list[str], **options: object) -> None:
    result = subprocess.run(command, capture_output=True, text=True, **options)  # type: ignore[call-overload]
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )


@pytest.mark.timeout(1500)
def test_binder_environment_runs_every_notebook(tmp_path: Path) -> None:
    venv = tmp_path / "binder-venv"
    run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    run([python, "-m", "pip", "install", "--quiet", "-r", str(BINDER / "requirements.txt")])
    env = {
        **os.environ,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(venv),
    }
    run(["bash", str(BINDER / "postBuild")], cwd=REPO, env=env)
    run([python, "-m", "pip", "install", "--quiet", *TEST_RUNNER])
    run(
        [
            python,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval",
            "--nbval-current-env",
            "--nbval-sanitize-with",
            str(REPO / "notebooks" / "sanitize.cfg"),
            str(REPO / "notebooks"),
        ],
        cwd=tmp_path,
        env=env,
    )
