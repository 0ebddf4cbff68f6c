"""How ``make test`` compares the tutorials' outputs (nbval, with ``notebooks/sanitize.cfg``).

A pytest plugin (``-p nbval_outputs`` in ``pyproject.toml``), so it applies to
every nbval run of the notebooks, however they are selected.

nbext's magics print one documented format (``nbext/widgets/base.py``):

* ``text/plain`` is the structural summary of a cell: run status path, step
  types, tool names, message counts, context and prompt figures. nbval
  compares it, after ``sanitize.cfg`` has replaced ids, ports, durations and
  the token counts that follow the model's wording.
* ``text/html`` draws the same state for readers, with clock times and ids:
  not compared (its ``text/plain`` twin is).
* An output marked ``{"nbext": {"output": "answer"}}`` holds a model's words.
  Greedy decoding gives the same words on one build and CPU, but not across
  builds (``benchmarks/README.md``, portability) and prompt-cache states, so
  what is compared is that an answer came: ``<answer>`` or ``<no answer>``.

The tutorials run on the default embedded model, as a user's do: the model
the other tests pin (``NBEXT_MODEL``, ``tests/pinned_model.py``) is taken out
of the environment their kernels start in (:func:`on_the_default_model`).

nbval 0.11 ignores ``update_display_data``, so a cell that streams into an
output in place (every magic) would be compared as it was drawn first.
:func:`follow_display_updates` applies each update to the output it names,
as JupyterLab and nbclient do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

try:
    from nbformat import NotebookNode
    from nbval.plugin import IPyNbCell, IPyNbFile
except ImportError:  # nbval is in the test extra; without it no notebook is collected
    IPyNbCell = IPyNbFile = None

NOT_COMPARED = ("text/html",)
PIN = "NBEXT_TESTS_PIN_MODEL"
"""Set (by ``tests/conftest.py``) when ``NBEXT_MODEL`` is the tests' pin, not the user's."""
ANSWER = {"nbext": {"output": "answer"}}


def comparable(outputs: list[Any]) -> list[Any]:
    """The outputs as compared: model answers reduced to whether one came."""
    shown = []
    for output in outputs:
        if output.get("metadata", {}).get("nbext") == ANSWER["nbext"]:
            text = str(output.get("data", {}).get("text/plain", "")).strip()
            shown_as = {"text/plain": "<answer>" if text else "<no answer>"}
            output = NotebookNode({**output, "data": NotebookNode(shown_as)})
        shown.append(output)
    return shown


def follow_display_updates(
    get_message: Callable[..., dict[str, Any]],
) -> Callable[..., dict[str, Any]]:
    """``get_message`` that hands nbval each output as its last update left it.

    nbval copies an output as its message arrives, so an update cannot reach it
    afterwards. Instead, from the first output that has a display id on, the
    cell's outputs are held back in order, updates are applied to them, and
    they are handed over, still in order, just before the kernel goes idle.
    """
    held: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    ready: list[dict[str, Any]] = []

    def get(*args: Any, **kwargs: Any) -> dict[str, Any]:
        while not ready:
            message = get_message(*args, **kwargs)
            kind = message.get("msg_type")
            content = message.get("content", {})
            display_id = (content.get("transient") or {}).get("display_id")
            if kind == "update_display_data":
                if display_id in by_id:
                    for key in ("data", "metadata"):
                        by_id[display_id][key] = content.get(key) or {}
                continue  # nbval has no use for an update it cannot apply
            if kind == "display_data" and display_id:
                by_id[display_id] = content
                held.append(message)
            elif held and kind in _OUTPUTS:
                held.append(message)
            elif held and kind == "status" and content.get("execution_state") == "idle":
                ready.extend([*held, message])
                held.clear()
                by_id.clear()
            else:
                return message
        return ready.pop(0)

    return get


_OUTPUTS = ("display_data", "execute_result", "stream", "error", "clear_output")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if IPyNbCell is None:
        return
    files = {item.parent for item in items if isinstance(item, IPyNbCell)}
    for notebook in files:
        assert isinstance(notebook, IPyNbFile)
        notebook.setup = on_the_default_model(notebook.setup)
        notebook.skip_compare = (*notebook.skip_compare, *NOT_COMPARED)
        notebook.get_kernel_message = follow_display_updates(notebook.get_kernel_message)
    for item in items:
        if isinstance(item, IPyNbCell):
            item.compare_outputs = comparing_answers_by_presence(item.compare_outputs)


def on_the_default_model(setup: Callable[[], None]) -> Callable[[], None]:
    """nbval's notebook ``setup`` (which starts the kernel) without the tests' pin."""

    def setup_without_the_pin() -> None:
        pinned = os.environ.pop("NBEXT_MODEL", None) if os.environ.get(PIN) else None
        # nbval starts the kernel here; the kernel starts (or finds) its local server.
        try:
            setup()
        finally:
            if pinned is not None:
                os.environ["NBEXT_MODEL"] = pinned

    return setup_without_the_pin


def comparing_answers_by_presence(compare: Callable[..., bool]) -> Callable[..., bool]:
    """nbval's ``compare_outputs``, fed the outputs as :func:`comparable` shows them."""

    def compare_outputs(test: list[Any], ref: list[Any], skip_compare: Any = None) -> bool:
        return compare(comparable(test), comparable(ref), skip_compare)

    return compare_outputs
