"""The tutorials and nbext import only what nbext declares.

A learner in VS Code (or any front end) has nbext and a kernel, not
JupyterLab. Whatever the tutorials import must therefore come with nbext:
from its own dependencies (and theirs), or from Python's standard library.
JupyterLab and the test tools bring many packages (``httpx``, ``requests``,
``jinja2``...); an import that only works because they are installed passes
every notebook run here and fails for that learner with
``ModuleNotFoundError``. This test reads the imports instead of running them:
every code cell of every tutorial (IPython syntax turned into Python first) and
every module of nbext, against the dependency closure of the installed nbext
distribution without extras, read from its metadata.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata as metadata
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KERNEL = "ipykernel"
"""What the learner installs beside nbext to run a notebook at all."""


def dependency_closure(*roots: str) -> set[str]:
    """Canonical names of ``roots`` and everything they require, extras left out
    (a requirement under an ``extra`` marker is not installed by ``pip install nbext``)."""
    seen: set[str] = set()
    pending = [canonicalize_name(root) for root in roots]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            pending.append(canonicalize_name(requirement.name))
    return seen


def imported_modules(source: str) -> Iterator[tuple[str, int]]:
    """Top-level names of the absolute imports in ``source``, with their line."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.partition(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.partition(".")[0], node.lineno


def undeclared(modules: Iterator[tuple[str, int]], allowed: set[str]) -> list[str]:
    """The modules neither in the standard library nor provided by an ``allowed``
    distribution, as ``module (line N)``."""
    providers = _providers()
    missing = []
    for module, line in modules:
        if module in sys.stdlib_module_names or module == "nbext":
            continue
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if not dists & allowed:
            missing.append(f"{module} (line {line}, from {sorted(dists) or 'nothing installed'})")
    return missing


@functools.cache
def _providers() -> dict[str, list[str]]:
    return metadata.packages_distributions()  # reads every installed distribution


@pytest.fixture(scope="module")
def allowed() -> set[str]:
    return dependency_closure("nbext", KERNEL)


def test_the_closure_holds_the_runtime_and_not_the_test_tools(allowed: set[str]) -> None:
    # What makes this test able to fail: the closure is nbext's, not the venv's.
    assert {"openai", "ipywidgets", "llama-cpp-python", "ipykernel"} <= allowed
    assert not {"jupyterlab", "pytest", "nbval", "playwright"} & allowed


def test_a_module_from_outside_the_closure_is_reported(allowed: set[str]) -> None:
    found = undeclared(
        imported_modules("import json\nimport pytest\nfrom openai import OpenAI"), allowed
    )
    assert found == ["pytest (line 2, from ['pytest'])"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_a_tutorial_imports_only_what_nbext_brings(notebook: Path, allowed: set[str]) -> None:
    transform = TransformerManager().transform_cell
    missing = []
    for index, cell in enumerate(nbformat.read(notebook, as_version=4).cells):
        if cell.cell_type != "code":
            continue
        for found in undeclared(imported_modules(transform(cell.source)), allowed):
            missing.append(f"cell {index}: {found}")
    assert not missing, "imports a learner without JupyterLab lacks:\n" + "\n".join(missing)


def test_nbext_imports_only_what_it_declares(allowed: set[str]) -> None:
    missing = []
    for module in sorted((REPO / "nbext").rglob("*.py")):
        for found in undeclared(imported_modules(module.read_text()), allowed):
            missing.append(f"{module.relative_to(REPO)}: {found}")
    assert not missing, "nbext imports undeclared packages:\n" + "\n".join(missing)
