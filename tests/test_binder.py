"""The Binder set-up, proven without Docker: a fresh virtualenv built from the
``binder/`` files alone (pinned requirements, then ``postBuild``) runs every
tutorial with its exercise solved, under nbclient, as a workshop participant
who does every exercise would (tests/solved_notebooks.py puts each hidden
solution in place).

Together with nbval on the shipped notebooks (every check says "Not yet"),
this runs each tutorial twice in CI: unsolved in the project's environment,
solved in Binder's. The wall time of each notebook is printed, never judged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import fresh_home
from solved_notebooks import table

from nbext import local_server
from nbext.config import Settings

REPO = Path(__file__).resolve().parent.parent
BINDER = REPO / "binder"
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


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


# A guard against a hang, not a time limit (each cell also times out after 600 s):
# the whole test took 24:46 on 2 cores that other jobs loaded to 12-18.
@pytest.mark.timeout(1800)
def test_binder_environment_runs_every_notebook_solved(
    tmp_path: Path, binder_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # postBuild installs the portable build (binder/build-llama-cpp), never a native one.
    assert "AVX2 = 1" in built and "AVX512" not in built and "AMX" not in built, built
    # The Binder environment's own python runs the notebooks (nbclient and ipykernel
    # come with its requirements); each kernel is that python, nothing of this venv.
    results = tmp_path / "solved.json"
    run(
        [
            python,
            str(REPO / "tests" / "solved_notebooks.py"),
            str(results),
            str(tmp_path / "executed"),
            *map(str, NOTEBOOKS),
        ],
        cwd=tmp_path,
        env=env,
    )
    outcomes = json.loads(results.read_text())
    with capsys.disabled():
        print(f"\nSolved notebooks, Binder environment (executed: {tmp_path / 'executed'})")
        print(table(outcomes))
    assert [o["notebook"] for o in outcomes] == [p.name for p in NOTEBOOKS]
    failed = {o["notebook"]: o["problems"] for o in outcomes if o["problems"]}
    assert not failed, failed
    unsolved = {
        o["notebook"]: o["verdict"] for o in outcomes if not o["verdict"].startswith("Well done")
    }
    assert not unsolved, unsolved
