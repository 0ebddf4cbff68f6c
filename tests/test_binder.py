"""The Binder set-up, proven without Docker: a fresh virtualenv built from the
``binder/`` files alone (pinned requirements, then ``postBuild``) runs every
tutorial under nbval, as a workshop participant's session would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import fresh_home

from nbext import local_server
from nbext.config import Settings

REPO = Path(__file__).resolve().parent.parent
BINDER = REPO / "binder"
TEST_RUNNER = ("pytest", "nbval")
"""Installed on top of the Binder environment only to run the check."""


def run(command: list[str], **options: object) -> None:
    result = subprocess.run(command, capture_output=True, text=True, **options)  # type: ignore[call-overload]
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )


@pytest.fixture
def binder_home() -> Iterator[Path]:
    """A data directory of its own (sharing only the model file): the notebooks
    must start the Binder venv's server, not find the test session's."""
    home = fresh_home(Settings.from_env(), "nbext-binder-")
    yield home
    local_server.stop_all(Settings.from_env({"NBEXT_HOME": str(home)}))


@pytest.mark.timeout(1500)
def test_binder_environment_runs_every_notebook(tmp_path: Path, binder_home: Path) -> None:
    venv = tmp_path / "binder-venv"
    run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    run([python, "-m", "pip", "install", "--quiet", "-r", str(BINDER / "requirements.txt")])
    env = {
        **os.environ,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(venv),
    }
    env["NBEXT_HOME"] = str(binder_home)
    run(["bash", str(BINDER / "postBuild")], cwd=REPO, env=env)
    built = subprocess.run(
        [python, "-c", "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"],
        capture_output=True, text=True, check=True,
    ).stdout
    # postBuild installs the portable build (binder/build-llama-cpp), never a native one.
    assert "AVX2 = 1" in built and "AVX512" not in built and "AMX" not in built, built
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
