"""Run timeline: every status a run went through, when, and for how long.

The live view is fed from the stream's ``thread.run.<status>`` events with
the kernel's clock (millisecond resolution); a finished run seen later is
rebuilt from its own timestamps, which the API gives in whole seconds.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from traitlets import Dict, List, Unicode

from nbext.widgets.base import StateView
from nbext.widgets.html_kit import MONO, STATUS_COLOURS, badge, esc

_STAMPS = (
    ("queued", "created_at"),
    ("in_progress", "started_at"),
    ("cancelled", "cancelled_at"),
    ("failed", "failed_at"),
    ("completed", "completed_at"),
)


class RunTimeline(StateView):
    """Model: ``run_id`` and ``entries`` — ``{"status", "at"}`` with ``at`` in epoch seconds."""

    run_id = Unicode("").tag(state=True)
    entries = List(Dict()).tag(state=True)

    def record(self, status: str, at: float | None = None, note: str = "") -> None:
        """Add a status change (a repeated status, e.g. a second ``queued``, is kept)."""
        entry = {"status": status, "at": time.time() if at is None else at, "note": note}
        self.entries = [*self.entries, entry]

    @classmethod
    def from_run(cls, run: dict[str, Any]) -> RunTimeline:
        """A coarse timeline of a past run, from the timestamps the Run object keeps."""
        entries = [
            {"status": status, "at": float(run[key]), "note": ""}
            for status, key in _STAMPS
            if run.get(key)
        ]
        final = run.get("status")
        if final in ("expired", "incomplete", "requires_action") or (
            final and final not in [e["status"] for e in entries]
        ):
            entries.append({"status": final, "at": entries[-1]["at"] if entries else 0, "note": ""})
        return cls(run_id=run.get("id", ""), entries=entries)

    @property
    def statuses(self) -> list[str]:
        return [e["status"] for e in self.entries]

    def render(self) -> str:
        rows = []
        start = self.entries[0]["at"] if self.entries else 0.0
        for i, entry in enumerate(self.entries):
            following = self.entries[i + 1]["at"] if i + 1 < len(self.entries) else None
            lasted = f"{following - entry['at']:.2f} s" if following is not None else ""
            clock = datetime.fromtimestamp(entry["at"]).strftime("%H:%M:%S.%f")[:-3]
            note = f" — {esc(entry['note'])}" if entry.get("note") else ""
            status = entry["status"]
            rows.append(
                f'<div class="nbext-timeline-entry" data-status="{esc(status)}" '
                f'style="display:flex;gap:10px;align-items:center;{MONO}">'
                f'<span style="width:8em">{clock}</span>'
                f'<span style="width:6em;color:#666">+{entry["at"] - start:.2f} s</span>'
                f"{badge(status, STATUS_COLOURS.get(status, '#666'), 'nbext-status')}"
                f'<span style="color:#666">{lasted}</span>{note}</div>'
            )
        total = ""
        if len(self.entries) > 1:
            total = f" · {self.entries[-1]['at'] - start:.2f} s"
        return (
            f'<div class="nbext-timeline" data-run-id="{esc(self.run_id)}" style="margin:6px 0">'
            f'<div style="font-weight:600">Run timeline{total}</div>{"".join(rows)}</div>'
        )

    def summary(self) -> str:
        return "run: " + " → ".join(self.statuses) if self.entries else ""
