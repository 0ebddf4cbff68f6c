"""The line magics' read-outs: ``%nbext``'s status table, ``%assistant threads``' list.

Static output bundles, not live widgets: they are printed once and never
change. Plain text for consoles and nbval, Markdown or HTML for the notebook.
"""

from __future__ import annotations

from dataclasses import dataclass

from nbext.widgets.html_kit import esc

NO_THREADS = "no threads yet: run %%assistant first."


def status_bundle(rows: dict[str, str]) -> dict[str, str]:
    """``%nbext``: one ``name: value`` line per fact, right-aligned names."""
    text = "\n".join(f"{k:>9}: {v}" for k, v in rows.items())
    table = ["| | |", "|---|---|", *(f"| {k} | `{v}` |" for k, v in rows.items())]
    return {"text/plain": text, "text/markdown": "\n".join(table)}


@dataclass(frozen=True)
class ThreadRow:
    """One thread this kernel knows by name."""

    name: str
    id: str
    runs: int
    current: bool = False


def threads_bundle(rows: list[ThreadRow]) -> dict[str, str]:
    """``%assistant threads``: the current thread starred, then name, id and run count."""
    if not rows:
        return {"text/plain": NO_THREADS}
    marks = ["*" if row.current else " " for row in rows]
    text = "\n".join(
        f"{m} {row.name}  {row.id}  {row.runs} runs" for m, row in zip(marks, rows, strict=True)
    )
    cells = "".join(
        f"<tr class='nbext-thread-row'><td>{m}</td><td>{esc(row.name)}</td><td><code>"
        f"{esc(row.id)}</code></td><td>{row.runs}</td></tr>"
        for m, row in zip(marks, rows, strict=True)
    )
    table = (
        "<table class='nbext-threads'><tr><th></th><th>name</th><th>id</th><th>runs</th>"
        f"</tr>{cells}</table>"
    )
    return {"text/plain": text, "text/html": table}
