"""Usage meter: tokens per call or run, and the running total.

With ``%%chat --history`` every call resends the whole conversation, so the
``in`` bar grows call after call; an Assistants thread grows the same way,
only the server does the resending. Same meter, both sides of the lesson.
"""

from __future__ import annotations

from traitlets import Dict, List, Unicode

from nbext.widgets.base import StateView
from nbext.widgets.html_kit import AMBER, BLUE, GREEN, MONO, esc


class UsageMeter(StateView):
    """Model: ``rows`` — ``{"label", "prompt_tokens", "completion_tokens"}``, oldest first."""

    title = Unicode("Usage").tag(state=True)
    rows = List(Dict()).tag(state=True)

    def add(self, label: str, prompt_tokens: int, completion_tokens: int) -> None:
        row = {
            "label": label,
            "prompt_tokens": int(prompt_tokens),
            "completion_tokens": int(completion_tokens),
        }
        self.rows = [*self.rows, row]

    @property
    def total(self) -> int:
        return sum(r["prompt_tokens"] + r["completion_tokens"] for r in self.rows)

    def render(self) -> str:
        if not self.rows:
            return ""
        widest = max(r["prompt_tokens"] + r["completion_tokens"] for r in self.rows) or 1
        lines = []
        running = 0
        for row in self.rows:
            running += row["prompt_tokens"] + row["completion_tokens"]
            prompt_w = 70 * row["prompt_tokens"] / widest
            completion_w = 70 * row["completion_tokens"] / widest
            lines.append(
                f'<div class="nbext-usage-row" style="display:flex;align-items:center;gap:6px;'
                f'{MONO}"><span style="width:9em;overflow:hidden">{esc(row["label"])}</span>'
                f'<span style="display:inline-block;height:10px;width:{prompt_w:.2f}%;'
                f'background:{BLUE}"></span><span style="display:inline-block;height:10px;'
                f'width:{completion_w:.2f}%;background:{GREEN};margin-left:-6px"></span>'
                f"<span>{row['prompt_tokens']} in · {row['completion_tokens']} out · "
                f'<span style="color:{AMBER}">Σ {running}</span></span></div>'
            )
        return (
            f'<div class="nbext-usage-meter" style="margin:6px 0"><div style="font-weight:600">'
            f"{esc(self.title)} · total {self.total} tokens</div>{''.join(lines)}</div>"
        )

    def summary(self) -> str:
        return f"{self.title}: {len(self.rows)} rows, {self.total} tokens" if self.rows else ""
