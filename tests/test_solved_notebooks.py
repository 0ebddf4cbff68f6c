"""Every tutorial has one recognisable exercise: a skeleton whose stored check
output is the check's "Not yet" hint, and a hidden solution that
tests/solved_notebooks.py can put in its place (the solved run itself is in
tests/test_binder.py)."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from solved_notebooks import NoExercise, find_exercise, problems, solved, verdict

from nbext import checks

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def read(path: Path) -> NotebookNode:
    return nbformat.read(path, as_version=4)


def test_every_tutorial_is_here() -> None:
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{n:02d}" for n in range(10)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_the_exercise_and_its_solution_are_found(path: Path) -> None:
    notebook = read(path)
    exercise = find_exercise(notebook)  # raises NoExercise, saying what is missing
    assert exercise.learner_cells[-1] < exercise.check_cell < exercise.solution_cell
    for index, solution in zip(exercise.learner_cells, exercise.solutions, strict=True):
        skeleton = notebook.cells[index].source
        assert "..." in skeleton and skeleton.strip() != solution.strip()
    intro = "\n".join(
        c.source for c in notebook.cells[: exercise.learner_cells[0]] if c.cell_type == "markdown"
    )
    assert "then run the check." in intro.rsplit("## Exercise", 1)[1]


def _check_call(source: str) -> tuple[str, int]:
    """The check a cell calls and its number of arguments."""
    call = next(
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id.startswith("check_")
    )
    assert isinstance(call.func, ast.Name)
    return call.func.id, len(call.args)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_shipped_exercises_start_unsolved(path: Path) -> None:
    """The stored output of the check cell is exactly the check's skeleton hint."""
    notebook = read(path)
    check_cell = notebook.cells[find_exercise(notebook).check_cell]
    name, arity = _check_call(check_cell.source)
    expected = getattr(checks, name)(*[...] * arity)
    assert expected.startswith("Not yet: ")
    assert verdict(check_cell) == expected


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_the_solved_notebook_holds_the_solution_and_nothing_else_changes(path: Path) -> None:
    notebook = read(path)
    exercise = find_exercise(notebook)
    done = solved(notebook)
    assert len(done.cells) == len(notebook.cells)
    for index, (before, after) in enumerate(zip(notebook.cells, done.cells, strict=True)):
        if index in exercise.learner_cells:
            position = exercise.learner_cells.index(index)
            assert after.source == exercise.solutions[position]
        else:
            assert after.source == before.source
        assert after.get("outputs", []) == []
    assert read(path) == notebook, "solving works on a copy"


def _exercise_notebook(*cells: Callable[[], NotebookNode] | NotebookNode) -> NotebookNode:
    """A notebook of fresh cells (a cell factory is called, so no two cells share an id)."""
    return new_notebook(cells=[cell() if callable(cell) else cell for cell in cells])


def a_heading() -> NotebookNode:
    return new_markdown_cell("## Exercise\n\nWrite it. Fill in the cell below, then run the check.")


def a_learner_cell() -> NotebookNode:
    return new_code_cell("answer = ...")


def a_check_cell() -> NotebookNode:
    return new_code_cell("from nbext.checks import check_json_city\n\ncheck_json_city(answer)")


def a_solution() -> NotebookNode:
    return new_markdown_cell(
        "<details><summary>Solution (click to open)</summary>\n\n"
        '```python\nanswer = \'{"city": "Paris", "country": "France"}\'\n```\n\n</details>'
    )


@pytest.mark.parametrize(
    ("cells", "missing"),
    [
        pytest.param(
            [a_learner_cell, a_check_cell, a_solution], "'## Exercise' heading", id="no-heading"
        ),
        pytest.param(
            [a_heading, a_heading, a_learner_cell, a_check_cell, a_solution],
            "found 2",
            id="two-headings",
        ),
        pytest.param([a_heading, a_learner_cell, a_solution], "calls a check", id="no-check-cell"),
        pytest.param([a_heading, a_check_cell, a_solution], "no code cell", id="no-learner-cell"),
        pytest.param([a_heading, a_learner_cell, a_check_cell], "<details>", id="no-solution"),
        pytest.param(
            [a_heading, a_learner_cell, a_solution, a_check_cell], "<details>", id="solution-first"
        ),
        pytest.param(
            [a_heading, a_learner_cell, a_learner_cell, a_check_cell, a_solution],
            "1 code blocks for 2",
            id="a-block-short",
        ),
        pytest.param(
            [
                a_heading,
                a_learner_cell,
                a_check_cell,
                new_markdown_cell("<details><summary>Solution</summary>"),
            ],
            "<details>",
            id="unclosed-details",
        ),
    ],
)
def test_a_notebook_without_a_recognisable_pair_is_refused(
    cells: list[Callable[[], NotebookNode] | NotebookNode], missing: str
) -> None:
    with pytest.raises(NoExercise, match=missing.replace("(", r"\(")):
        find_exercise(_exercise_notebook(*cells))


def test_two_learner_cells_take_the_blocks_in_order() -> None:
    solution = new_markdown_cell(
        "<details><summary>Solution (click to open)</summary>\n\n"
        "```\n%%chat --history quiz\nFirst?\n```\n\ntext between\n\n"
        "```python\nsecond = 2\n```\n</details>"
    )
    notebook = _exercise_notebook(
        a_heading, a_learner_cell, new_markdown_cell("x"), a_learner_cell, a_check_cell, solution
    )
    exercise = find_exercise(notebook)
    assert exercise.learner_cells == (1, 3)
    assert exercise.solutions == ("%%chat --history quiz\nFirst?", "second = 2")


def test_verdicts_and_problems_are_read_from_outputs() -> None:
    cell = new_code_cell(
        "check(x)",
        outputs=[
            nbformat.v4.new_output(
                "execute_result", data={"text/plain": repr("Well done: it's right")}
            )
        ],
    )
    assert verdict(cell) == "Well done: it's right"
    assert verdict(new_code_cell("check(x)")) == ""
    notebook = _exercise_notebook(
        new_code_cell(
            "1/0",
            outputs=[nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="no")],
        ),
        new_code_cell(
            "%%chat",
            outputs=[
                nbformat.v4.new_output(
                    "display_data", data={"text/plain": "nbext error: the cell is empty"}
                )
            ],
        ),
        cell,
    )
    assert problems(notebook) == [
        "cell 0: ZeroDivisionError: no",
        "cell 1: nbext error: the cell is empty",
    ]
