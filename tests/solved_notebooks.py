"""The tutorials with their exercises solved, and a run of them under nbclient.

Every tutorial ships with its exercise unsolved (a skeleton whose check says
"Not yet"); its solution is hidden in the notebook itself. Putting the
solution in place and running the notebook proves both that the solution
passes its check and that the rest of the notebook runs after a solved
exercise.

How an exercise is found (each tutorial has exactly one):

- a markdown cell with an ``## Exercise`` heading;
- the code cells after it, up to the first cell that calls a check
  (``check_...(``), are the learner's cells; that cell is the check cell;
- the first markdown cell after the check cell holding
  ``<details><summary>Solution`` has one fenced code block per learner cell,
  in the same order.

Run as a script (by the Binder environment's python, see tests/test_binder.py)
it executes each solved notebook with nbclient on a kernel of that same python
and writes, per notebook, its wall time, the first error and the check's
verdict to a JSON file::

    python tests/solved_notebooks.py RESULTS.json OUT_DIR NOTEBOOK...

Only nbformat (and, to run, nbclient and ipykernel) are needed: the Binder
environment has them, without the test suite's own dependencies.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

_HEADING = re.compile(r"^##\s+Exercise\b", re.MULTILINE)
_CHECK_CALL = re.compile(r"\bcheck_\w+\(")
_DETAILS = re.compile(r"<details>\s*<summary>\s*Solution.*?</details>", re.DOTALL)
_FENCE = re.compile(r"^```[\w-]*\n(.*?)\n```", re.DOTALL | re.MULTILINE)


class NoExercise(ValueError):
    """The notebook has no exercise/solution pair this module recognises."""


@dataclass(frozen=True)
class Exercise:
    """Where a notebook's exercise is: cell indices and the solution's code."""

    learner_cells: tuple[int, ...]
    check_cell: int
    solution_cell: int
    solutions: tuple[str, ...]
    """One code block per learner cell, in order."""


def find_exercise(notebook: NotebookNode) -> Exercise:
    """The notebook's one exercise, or :class:`NoExercise` saying what is missing."""
    cells = notebook.cells
    headings = [
        i for i, c in enumerate(cells) if c.cell_type == "markdown" and _HEADING.search(c.source)
    ]
    if len(headings) != 1:
        raise NoExercise(f"expected one '## Exercise' heading, found {len(headings)}")
    check = next(
        (
            i
            for i in range(headings[0] + 1, len(cells))
            if cells[i].cell_type == "code" and _CHECK_CALL.search(cells[i].source)
        ),
        None,
    )
    if check is None:
        raise NoExercise("no cell after '## Exercise' calls a check (check_...(...))")
    learner = tuple(i for i in range(headings[0] + 1, check) if cells[i].cell_type == "code")
    if not learner:
        raise NoExercise("no code cell between '## Exercise' and the check cell")
    solution = next(
        (
            i
            for i in range(check + 1, len(cells))
            if cells[i].cell_type == "markdown" and _DETAILS.search(cells[i].source)
        ),
        None,
    )
    if solution is None:
        raise NoExercise("no <details><summary>Solution ... </details> after the check cell")
    details = _DETAILS.search(cells[solution].source)
    assert details is not None
    blocks = tuple(_FENCE.findall(details.group(0)))
    if len(blocks) != len(learner):
        raise NoExercise(
            f"the solution has {len(blocks)} code blocks for {len(learner)} learner cells"
        )
    return Exercise(learner, check, solution, blocks)


def solved(notebook: NotebookNode) -> NotebookNode:
    """A copy of ``notebook`` whose learner cells hold the solution, all outputs cleared."""
    exercise = find_exercise(notebook)
    copied = copy.deepcopy(notebook)
    for index, code in zip(exercise.learner_cells, exercise.solutions, strict=True):
        copied.cells[index].source = code
    for cell in copied.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return copied


def verdict(cell: NotebookNode) -> str:
    """What a check cell said: the string it returned (or printed), '' if nothing."""
    for output in cell.get("outputs", []):
        if output.output_type == "execute_result":
            shown = output.data.get("text/plain", "")
            try:
                value = ast.literal_eval(shown)
            except (ValueError, SyntaxError):
                return str(shown)
            return value if isinstance(value, str) else str(shown)
        if output.output_type == "stream":
            return str(output.text).strip()
    return ""


def problems(notebook: NotebookNode) -> list[str]:
    """Error outputs and nbext's red error notices, one line each."""
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                found.append(f"cell {index}: {output.ename}: {output.evalue}")
            shown = output.get("data", {}).get("text/plain", "") or output.get("text", "")
            if "nbext error" in str(shown):
                found.append(f"cell {index}: {str(shown).strip()[:300]}")
    return found


@dataclass
class Outcome:
    """One solved notebook's run."""

    notebook: str
    seconds: float
    verdict: str
    problems: list[str]


def run_solved(path: Path, out_dir: Path, cell_timeout: int = 600) -> Outcome:
    """Execute ``path`` solved, on a kernel of this python; keep the executed copy."""
    from nbclient import NotebookClient

    notebook = solved(nbformat.read(path, as_version=4))
    exercise = find_exercise(notebook)
    client = NotebookClient(
        notebook,
        timeout=cell_timeout,
        kernel_manager_class=_this_python_kernel(),
        resources={"metadata": {"path": str(path.parent)}},
    )
    failed: list[str] = []
    started = time.perf_counter()
    try:
        client.execute()
    except Exception as error:
        # The first error stops the notebook, as Run All does; a timeout or a dead
        # kernel is reported the same way, and the next notebook still runs.
        lines = str(error).strip().splitlines() or [""]
        failed.append(f"{type(error).__name__}: {lines[-1][:300]}")
    seconds = time.perf_counter() - started
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out_dir / path.name)
    found = problems(notebook)
    return Outcome(
        notebook=path.name,
        seconds=round(seconds, 1),
        verdict=verdict(notebook.cells[exercise.check_cell]),
        problems=found or failed,
    )


def _this_python_kernel() -> type:
    """A kernel manager whose every kernel is ipykernel on this very python.

    The name "python3" could resolve to a kernelspec of another environment
    (the user's data directory comes first); this one cannot.
    """
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class ThisPythonSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())

    class ThisPythonKernel(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _this_python_specs(self) -> KernelSpecManager:
            return ThisPythonSpecs()

    return ThisPythonKernel


def table(outcomes: list[dict[str, Any]]) -> str:
    """The per-notebook times and verdicts, as a plain-text table."""
    lines = [f"{'notebook':<40} {'seconds':>8}  check", f"{'-' * 40} {'-' * 8}  {'-' * 30}"]
    for outcome in outcomes:
        said = outcome["verdict"][:60] or "(no output)"
        flag = f"  ERROR: {outcome['problems'][0][:80]}" if outcome["problems"] else ""
        lines.append(f"{outcome['notebook']:<40} {outcome['seconds']:>8.1f}  {said}{flag}")
    total = sum(o["seconds"] for o in outcomes)
    lines.append(f"{'total':<40} {total:>8.1f}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__)
        return 2
    results, out_dir, *notebooks = argv
    outcomes = []
    for name in notebooks:
        outcomes.append(asdict(run_solved(Path(name), Path(out_dir))))
        Path(results).write_text(json.dumps(outcomes, indent=1))  # partial results survive
    print(table(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
