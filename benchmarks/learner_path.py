"""A learner's path through the tutorials, measured: wrong first, then right.

For each tutorial ``notebooks/0*.ipynb`` this script plays a learner on a real
kernel (nbclient, ipykernel on this python), the real local server and the
real embedded model, exactly as the tests run the notebooks:

1. **reach**: run the notebook as shipped, top to bottom, up to its exercise;
2. **skeleton**: run the exercise as shipped (its ``...`` cells, then the
   check), as a learner does before writing anything;
3. **wrong**: write a plausible wrong answer in the learner cells (one per
   exercise, taken from the wrong-answer tables of ``tests/test_checks.py``,
   written as learner code in :data:`MISTAKES`), run them and the check, and
   keep the hint; the hint *points at the mistake* when it holds every one of
   the mistake's expected words;
4. **solved**: write the solution (the notebook's hidden ``<details>``) in the
   learner cells and run them and the check again — the learner does what
   the hint says first when the hint names a fix outside the learner cells
   (:attr:`Mistake.restart`) — and keep the verdict;
5. **rest**: run the rest of the notebook.

One kernel per notebook, one notebook at a time. All notebooks share one
temporary ``NBEXT_HOME`` (its ``models`` a symlink to the user's model cache,
as ``fresh_home`` in ``tests/conftest.py``), so the local server is started
by the first notebook and reused by the others, as in a workshop; it is
stopped at the end.

Printed per tutorial: wall time (total, and to reach the exercise), the hint
the wrong answer got, whether it pointed at the mistake, whether the solution
passed, errors met, and a learner's time: the machine time plus a reading
and typing allowance (:func:`allowance`).

Usage (nice: the model is CPU-heavy and the machine is shared)::

    nice -n 15 python benchmarks/learner_path.py
    nice -n 15 python benchmarks/learner_path.py --notebooks 00 04 --json path.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from bench_kernels import KIT_VARIABLES, bench_home, stop_servers, user_settings
from nbformat import NotebookNode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from solved_notebooks import _this_python_kernel, find_exercise, problems, verdict

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@dataclass(frozen=True)
class Mistake:
    """A wrong answer a learner writes for one exercise."""

    table_row: str
    """Its row in the check's wrong-answer table in tests/test_checks.py."""
    cells: tuple[str, ...]
    """The learner's code, one source per learner cell."""
    points_at: tuple[str, ...]
    """Words a hint pointing at this mistake contains."""
    restart: str = ""
    """A statement the hint may tell the learner to run before trying again."""


MISTAKES: dict[str, Mistake] = {
    "00": Mistake(
        "system-not-one-word",
        (
            "%%chat --temperature 0 --history quiz --system 'You are a helpful assistant.'\n"
            "What colour is the sky on a clear day?",
            "%%chat --temperature 0 --history quiz\nAnd what colour is grass?",
        ),
        ("does not ask for one word",),
        restart="quiz.clear()",
    ),
    "01": Mistake(
        "the-completion",
        (
            "answer = client.chat.completions.create(\n"
            "    model=MODEL,\n"
            '    messages=[{"role": "user", "content": "Describe Paris as a JSON object '
            'with the keys city and country."}],\n'
            '    response_format={"type": "json_object"},\n'
            "    temperature=0,\n"
            ")",
        ),
        ("choices[0].message.content",),
    ),
    "02": Mistake(
        "notebook-solution",
        ("def keep_last(history, n):\n    return [history[0], *history[1:][-n:]]",),
        ("history[-0:]", "n == 0"),
    ),
    "03": Mistake(
        "not-waited",
        (
            'my_assistant = client.beta.assistants.create(model=MODEL, instructions="Answer '
            'with one word.", temperature=0)\n'
            'my_thread = client.beta.threads.create(messages=[{"role": "user", "content": '
            '"Which ocean is the largest?"}])\n'
            "my_run = client.beta.threads.runs.create(thread_id=my_thread.id, "
            "assistant_id=my_assistant.id)\n"
            "my_steps = client.beta.threads.runs.steps.list(my_run.id, "
            "thread_id=my_thread.id).data\n"
            "my_messages = client.beta.threads.messages.list(my_thread.id).data",
        ),
        ("create_and_poll",),
    ),
    "04": Mistake(
        "newest-only",
        (
            "def keep_auto(costs, budget):\n"
            "    kept, used = [], 0\n"
            "    for index in range(len(costs) - 1, -1, -1):\n"
            "        if used + costs[index] > budget:\n"
            "            break\n"
            "        kept.append(index)\n"
            "        used += costs[index]\n"
            "    return sorted(kept)",
        ),
        ("first messages",),
    ),
    "05": Mistake(
        "str-not-json",
        (
            "def tool_outputs(tool_calls, functions):\n"
            "    outputs = []\n"
            "    for call in tool_calls:\n"
            "        value = functions[call.function.name](**json.loads(call.function.arguments))\n"
            '        outputs.append({"tool_call_id": call.id, "output": str(value)})\n'
            "    return outputs",
        ),
        ("json.dumps", "not str(value)"),
    ),
    "06": Mistake(
        "every-annotation",
        (
            "def with_footnotes(text, names):\n"
            "    body, notes = text.value, []\n"
            "    for a in text.annotations:\n"
            "        notes.append(names[(a.file_path if a.type == 'file_path' "
            "else a.file_citation).file_id])\n"
            '        body = body.replace(a.text, f"[{len(notes)}]")\n'
            "    return body, notes",
        ),
        ("only file_citation",),
    ),
    "07": Mistake(
        "every-square-then-sum",
        (
            "exercise_thread = client.beta.threads.create()\n"
            "exercise = ask(client, coder, exercise_thread.id,\n"
            '               "What is the sum of the squares of the numbers from 1 to 100? "\n'
            '               "Use code and print the result.")\n'
            "exercise_steps = steps_of(client, exercise)",
        ),
        ("print only the sum",),
    ),
    "08": Mistake(
        "stateful-and-complex",
        (
            "support_bot = recommend(\n"
            "    stateful=True, complex=True, integration=False, overhead=False\n"
            ")",
        ),
        ("complex should be False", "integration should be True"),
    ),
    "09": Mistake(
        "text-object",
        (
            "def thread_to_items(messages):\n"
            '    return [{"role": m.role, "content": m.content[0].text} for m in messages]',
        ),
        ("content: a string",),
    ),
}
"""One wrong answer per tutorial, by its two-digit number."""


# -- a learner's time ---------------------------------------------------------------

READING_WPM = 200
"""Prose read at about 200 words a minute (a careful, technical read)."""
CODE_LINES_PER_MIN = 10
"""About 6 s per line of code: read it, run the cell, glance at its output."""
EXERCISE_BASE_MIN = 5
"""Read the task, write a first attempt, read the hint."""
EXERCISE_MIN_PER_LINE = 1
"""Each line of the solution: think, type, fix after the hint."""


_AGAIN = re.compile(r"\b(?:ask|try) again\b")

_HEADING = re.compile(r"^#{1,3}\s+(.+)$", re.MULTILINE)


@dataclass
class Reading:
    """What a learner reads and writes in one notebook."""

    markdown_words: int
    code_lines: int
    solution_lines: int

    def minutes(self) -> float:
        """Reading plus the exercise, in minutes (the machine time is added apart)."""
        return (
            self.markdown_words / READING_WPM
            + self.code_lines / CODE_LINES_PER_MIN
            + EXERCISE_BASE_MIN
            + EXERCISE_MIN_PER_LINE * self.solution_lines
        )


def allowance(notebook: NotebookNode, cells: range | None = None) -> Reading:
    """Words of prose, lines of code shown, lines of the solution (the details left out).

    Over the whole notebook, or over ``cells`` only (the exercise counts where it is).
    """
    exercise = find_exercise(notebook)
    cells = cells if cells is not None else range(len(notebook.cells))
    prose = " ".join(
        notebook.cells[index].source
        for index in cells
        if notebook.cells[index].cell_type == "markdown" and index != exercise.solution_cell
    )
    code = [
        line
        for index in cells
        if notebook.cells[index].cell_type == "code" and index not in exercise.learner_cells
        for line in notebook.cells[index].source.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    solution = [
        line
        for block in exercise.solutions
        for line in block.splitlines()
        if line.strip() and exercise.learner_cells[0] in cells
    ]
    words = [
        w for w in re.sub(r"<[^>]+>|[`#*|>-]", " ", prose).split() if any(c.isalnum() for c in w)
    ]
    return Reading(len(words), len(code), len(solution))


@dataclass
class Section:
    """A stretch of a notebook from one heading to the next, as the learner meets it."""

    title: str
    first_cell: int
    last_cell: int
    machine_s: float
    """Its cells' run time on the learner's path (the exercise: every attempt)."""
    learner_min: float


def sections(notebook: NotebookNode, cell_s: dict[int, float]) -> list[Section]:
    """The notebook cut at its markdown headings, each with its time."""
    starts = [0] + [
        index
        for index, cell in enumerate(notebook.cells)
        if index and cell.cell_type == "markdown" and _HEADING.search(cell.source)
    ]
    found = []
    for start, end in zip(starts, [*starts[1:], len(notebook.cells)], strict=True):
        first = notebook.cells[start]
        heading = _HEADING.search(first.source) if first.cell_type == "markdown" else None
        title = heading.group(1).strip() if heading else "(start)"
        machine = sum(cell_s.get(index, 0.0) for index in range(start, end))
        reading = allowance(notebook, range(start, end))
        exercise_min = 0.0 if reading.solution_lines else EXERCISE_BASE_MIN
        found.append(
            Section(
                title,
                start,
                end - 1,
                round(machine, 1),
                round(machine / 60 + reading.minutes() - exercise_min, 1),
            )
        )
    return found


# -- one notebook -------------------------------------------------------------------


@dataclass
class LearnerPath:
    """One tutorial played by the learner."""

    notebook: str
    mistake: str
    total_s: float = 0.0
    phases_s: dict[str, float] = field(default_factory=dict)
    """reach, skeleton, wrong, solved, rest (kernel start is in total only)."""
    skeleton_hint: str = ""
    wrong_hint: str = ""
    hint_points_at_mistake: bool = False
    restarted: bool = False
    retried: bool = False
    """The solution's first verdict said to ask again, and the learner did (once)."""
    solved_verdict: str = ""
    solution_passed: bool = False
    problems: list[str] = field(default_factory=list)
    markdown_words: int = 0
    code_lines: int = 0
    solution_lines: int = 0
    learner_min: float = 0.0
    """Machine time plus the reading and typing allowance."""
    sections: list[Section] = field(default_factory=list)


def play(path: Path, mistake: Mistake, cell_timeout: int, keep: Path | None) -> LearnerPath:
    """Run ``path`` as the learner: reach, skeleton, wrong, solved, rest."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    exercise = find_exercise(notebook)
    shipped = [notebook.cells[i].source for i in exercise.learner_cells]
    if len(mistake.cells) != len(shipped):
        raise ValueError(f"{path.name}: {len(mistake.cells)} wrong cells for {len(shipped)}")
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    reading = allowance(notebook)
    result = LearnerPath(
        path.name,
        mistake.table_row,
        markdown_words=reading.markdown_words,
        code_lines=reading.code_lines,
        solution_lines=reading.solution_lines,
    )
    client = NotebookClient(
        notebook,
        timeout=cell_timeout,
        allow_errors=True,  # a learner sees the error and goes on; it is reported below
        kernel_manager_class=_this_python_kernel(),
        resources={"metadata": {"path": str(path.parent)}},
    )
    check_cell = notebook.cells[exercise.check_cell]
    cell_s: dict[int, float] = {}

    def run(indices: range | tuple[int, ...], phase: str) -> None:
        started = time.perf_counter()
        for index in indices:
            timed = time.perf_counter()
            client.execute_cell(notebook.cells[index], index)
            cell_s[index] = cell_s.get(index, 0.0) + time.perf_counter() - timed
        result.phases_s[phase] = round(
            result.phases_s.get(phase, 0.0) + time.perf_counter() - started, 1
        )

    def attempt(sources: tuple[str, ...] | list[str], phase: str) -> str:
        for index, source in zip(exercise.learner_cells, sources, strict=True):
            notebook.cells[index].source = source
        run((*exercise.learner_cells, exercise.check_cell), phase)
        return verdict(check_cell)

    started = time.perf_counter()
    with client.setup_kernel():
        run(range(exercise.learner_cells[0]), "reach")
        result.skeleton_hint = attempt(shipped, "skeleton")
        result.wrong_hint = attempt(mistake.cells, "wrong")
        found = problems(notebook)  # errors so far; the cells are run again below
        result.hint_points_at_mistake = all(w in result.wrong_hint for w in mistake.points_at)
        if mistake.restart and mistake.restart in result.wrong_hint:
            # The hint told the learner what to run before trying again: they do.
            # Run as a cell of its own at the end (nbclient stores a cell at its index).
            restart = nbformat.v4.new_code_cell(mistake.restart)
            notebook.cells.append(restart)
            timed = time.perf_counter()
            client.execute_cell(restart, len(notebook.cells) - 1)
            notebook.cells.pop()
            result.phases_s["solved"] = round(time.perf_counter() - timed, 1)
            result.restarted = True
            found += [f"restart: {p}" for p in problems(nbformat.v4.new_notebook(cells=[restart]))]
        result.solved_verdict = attempt(exercise.solutions, "solved")
        if _AGAIN.search(result.solved_verdict):
            # The model slipped (the verdict says to ask again): the learner runs it once more.
            result.retried = True
            result.solved_verdict = attempt(exercise.solutions, "solved")
        result.solution_passed = result.solved_verdict.startswith("Well done")
        run(range(exercise.check_cell + 1, len(notebook.cells)), "rest")
    result.total_s = round(time.perf_counter() - started, 1)
    result.problems = sorted(set(found + problems(notebook)))
    machine_min = result.total_s / 60
    result.learner_min = round(machine_min + reading.minutes(), 1)
    result.sections = sections(notebook, cell_s)
    if keep:  # the notebook as the learner left it: solved, every output
        keep.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, keep / path.name)
    return result


# -- the report ---------------------------------------------------------------------


def table(paths: list[LearnerPath]) -> str:
    """The per-notebook figures as plain text."""
    lines = [
        f"{'notebook':<36} {'total s':>7} {'reach s':>7} {'hint ok':>7} {'solved':>6} "
        f"{'words':>5} {'code':>4} {'learner min':>11}"
    ]
    for p in paths:
        lines.append(
            f"{p.notebook:<36} {p.total_s:>7.1f} {p.phases_s.get('reach', 0):>7.1f} "
            f"{'yes' if p.hint_points_at_mistake else 'NO':>7} "
            f"{'yes' if p.solution_passed else 'NO':>6} {p.markdown_words:>5} {p.code_lines:>4} "
            f"{p.learner_min:>11.1f}"
        )
    total_s = sum(p.total_s for p in paths)
    learner = sum(p.learner_min for p in paths)
    lines.append(
        f"{'total':<36} {total_s:>7.1f} {'':>7} {'':>7} {'':>6} {'':>5} {'':>4} {learner:>11.1f}"
    )
    lines.append("")
    for p in paths:
        lines.append(f"{p.notebook} (wrong answer: {p.mistake}; phases {p.phases_s})")
        lines.append(f"  skeleton: {p.skeleton_hint}")
        lines.append(f"  wrong:    {p.wrong_hint}")
        restarted = " (after the restart the hint named)" if p.restarted else ""
        restarted += " (asked twice)" if p.retried else ""
        lines.append(f"  solved{restarted}: {p.solved_verdict}")
        for problem in p.problems:
            lines.append(f"  ERROR {problem[:200]}")
        for section in p.sections:
            lines.append(
                f"    cells {section.first_cell:>2}-{section.last_cell:<2} "
                f"{section.machine_s:>6.1f} s {section.learner_min:>5.1f} min  {section.title}"
            )
    lines.append("")
    lines.append(
        f"learner min = machine time + markdown words / {READING_WPM} + code lines / "
        f"{CODE_LINES_PER_MIN} + {EXERCISE_BASE_MIN} + {EXERCISE_MIN_PER_LINE} x solution lines"
    )
    return "\n".join(lines)


def learner_home() -> Path:
    """A fresh NBEXT_HOME sharing only the user's models (and the doctor's verdict)."""
    home = bench_home("nbext-learner-")
    report = user_settings().home / "doctor.json"
    if report.exists():  # %nbext shows the doctor's verdict, as in tests/conftest.py
        shutil.copy(report, home / "doctor.json")
    return home


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--notebooks", nargs="+", metavar="NN", help="two-digit numbers (default: all)"
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the figures here too")
    parser.add_argument("--cell-timeout", type=int, default=600)
    parser.add_argument("--keep", type=Path, metavar="DIR", help="write the played notebooks here")
    args = parser.parse_args()
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if args.notebooks:
        paths = [p for p in paths if p.name[:2] in args.notebooks]
    home = learner_home()
    for name in KIT_VARIABLES:
        os.environ.pop(name, None)
    os.environ["NBEXT_HOME"] = str(home)  # inherited by every kernel and the server
    played: list[LearnerPath] = []
    try:
        for path in paths:
            print(f"{path.name} ...", flush=True)
            played.append(play(path, MISTAKES[path.name[:2]], args.cell_timeout, args.keep))
            if args.json:  # partial results survive an interrupted run
                args.json.write_text(json.dumps([asdict(p) for p in played], indent=1))
    finally:
        stop_servers(home)
        shutil.rmtree(home, ignore_errors=True)
    print(table(played))
    return 0 if all(p.hint_points_at_mistake and p.solution_passed for p in played) else 1


if __name__ == "__main__":
    sys.exit(main())
