"""The tutorials also run under nbclient (what JupyterLab's "Run all" does)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

TOUR = Path(__file__).parent.parent / "notebooks" / "00_setup_and_tour.ipynb"


def test_tour_runs_under_nbclient_without_errors() -> None:
    path = TOUR
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=300, resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = "".join(str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "nbext error" not in shown and "tokens/s" in shown
