"""Imports point down the layers of DESIGN.md, never up or sideways.

Server side, top to bottom::

    nbext/server/    app assembly, auth, errors, uvicorn runners, the local server's main
    nbext/api/       one package per resource: router, protocol, service
    nbext/engine/    the run engine (no HTTP)
    nbext/tools/     code_interpreter, file_search, function; the registry the engine calls
    nbext/store/     persistence, all SQL
    nbext/backends/  chat providers
    nbext/config.py nbext/errors.py nbext/ids.py nbext/protocol.py nbext/wire.py

The magics are a client: they reach the server over HTTP through
:mod:`nbext.client` and must not import the server, the runtime or what the
runtime stands on; the views know nothing of the magics that draw them.
Checked twice: statically (every ``import`` statement of every module, also
those inside functions and ``TYPE_CHECKING`` blocks) and, for the client
layers, at run time (what importing the layer actually loads, transitively,
in a fresh interpreter).

To add a layer's rule, add a row to :data:`FORBIDDEN`.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CLIENT_SIDE = ("nbext.magics", "nbext.widgets", "nbext.client", "nbext.local_server")
SERVER_SIDE = (
    "nbext.server",
    "nbext.api",
    "nbext.engine",
    "nbext.tools",
    "nbext.store",
    "nbext.backends",
)
BOTTOM = ("nbext.config", "nbext.errors", "nbext.ids", "nbext.protocol", "nbext.wire")
EVERYTHING_ELSE = (*CLIENT_SIDE, *SERVER_SIDE, "nbext.checks", "nbext.doctor", "nbext.cli")


def _above(layer: str) -> tuple[str, ...]:
    """The server-side layers above ``layer``, and the client side."""
    return (*SERVER_SIDE[: SERVER_SIDE.index(layer)], *CLIENT_SIDE, "nbext.cli")


FORBIDDEN: dict[str, tuple[str, ...]] = {
    "nbext.magics": SERVER_SIDE,
    "nbext.widgets": (*SERVER_SIDE, "nbext.magics"),
    "nbext.api": _above("nbext.api"),
    "nbext.engine": _above("nbext.engine"),
    "nbext.tools": _above("nbext.tools"),
    "nbext.store": _above("nbext.store"),
    "nbext.backends": _above("nbext.backends"),
    **{module: EVERYTHING_ELSE for module in BOTTOM},
}
"""package (or module) -> module prefixes that no module in it may import."""

HEAVY = (
    "fastapi",
    "uvicorn",
    "starlette",
    "sqlalchemy",
    "jupyter_client",
    "numpy",
    "bm25s",
    "tokenizers",
    "llama_cpp",
)
"""Third-party packages of the server side: a client layer that loads one has reached down."""


def modules_of(package: str) -> list[Path]:
    path = ROOT / package.replace(".", "/")
    if path.with_suffix(".py").is_file():
        return [path.with_suffix(".py")]
    return sorted(path.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            yield node.lineno, base
            for alias in node.names:  # ``from nbext import server`` imports nbext.server
                yield node.lineno, f"{base}.{alias.name}"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Attribute, ast.Name))
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value


def under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_what_its_layer_must_not(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in modules_of(package)
        for line, module in imported(path)
        for prefix in FORBIDDEN[package]
        if under(module, prefix)
    ]
    assert modules_of(package), f"no modules found for {package}"
    assert wrong == []


def test_the_import_scan_sees_what_it_must() -> None:
    """The checker itself: every import form it claims to see, seen."""
    found = {module for _, module in imported(ROOT / "nbext" / "api" / "services.py")}
    assert {"time", "nbext.engine.lifecycle.Runtime", "nbext.store.MESSAGES"} <= found
    found = {module for _, module in imported(ROOT / "nbext" / "cli.py")}
    assert "nbext.server.app.build_app" in found  # an import inside a function
    found = {module for _, module in imported(ROOT / "nbext" / "magics" / "parsers.py")}
    assert {"shlex", "IPython.core.error", "nbext.magics.failures.MagicError"} <= found


def test_every_server_module_has_a_layer() -> None:
    """A new top-level module or package must be placed in the diagram (and here)."""
    known = {*SERVER_SIDE, *BOTTOM, *EVERYTHING_ELSE, "nbext.magics", "nbext.widgets"}
    tops = {
        module_name(path)
        for path in (ROOT / "nbext").iterdir()
        if path.suffix == ".py" or (path / "__init__.py").exists()
    } - {"nbext"}
    assert tops - known == set()


def loaded_after(code: str) -> list[str]:
    """Modules a fresh interpreter has loaded after running ``code`` (from this tree)."""
    probe = f"import sys\n{code}\nimport json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("NBEXT_")},
            "PYTHONPATH": str(ROOT),
            # Nobody listens on port 9: loading the magics starts no local server.
            "NBEXT_SERVER_URL": "http://127.0.0.1:9/v1",
        },
        check=True,
    )
    return list(json.loads(done.stdout))


def reached(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted({p for p in prefixes for m in modules if under(m, p)})


@pytest.mark.parametrize("package", ["nbext.magics", "nbext.widgets"])
def test_importing_a_layer_loads_nothing_it_must_not(package: str) -> None:
    """Transitively: a permitted module (say nbext.doctor) must not pull the rest in."""
    names = [module_name(path) for path in modules_of(package)]
    modules = loaded_after("\n".join(f"import {name}" for name in names))
    assert reached(modules, FORBIDDEN[package] + HEAVY) == []


def test_load_ext_imports_the_magics_front_only() -> None:
    """``%load_ext nbext`` registers the magics; the SDK and the views wait for a magic."""
    modules = loaded_after(
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance().run_line_magic('load_ext', 'nbext')"
    )
    assert "nbext.magics.ipython_magics" in modules
    assert reached(modules, SERVER_SIDE + HEAVY + ("openai", "ipywidgets")) == []
