"""What ``%%chat`` draws: the answer as it streams, then one line of figures.

Updates go through an IPython display handle, so they work in JupyterLab,
under nbclient/nbval and in a saved notebook alike, with no widget state.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass

from IPython.display import display

from nbext.widgets.base import REDRAW_EVERY_S

ANSWER_METADATA = {"nbext": {"output": "answer"}}
"""Marks the output that holds a model's words (``tests/nbval_outputs.py``
compares that an answer came, not its wording, which differs across CPUs)."""


def markdown_bundle(text: str, *, as_json: bool = False) -> dict[str, str]:
    """Markdown for the notebook, the raw text for consoles and saved outputs."""
    return {
        "text/markdown": f"```json\n{text}\n```" if as_json else text,
        "text/plain": text,
    }


class StreamingMarkdown:
    """Markdown that grows in place as text arrives."""

    def __init__(self, *, as_json: bool = False) -> None:
        self._parts: list[str] = []
        self._as_json = as_json
        self._drawn_at = 0.0
        self._handle = display(
            markdown_bundle(""), raw=True, metadata=ANSWER_METADATA, display_id=True
        )

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def append(self, text: str) -> None:
        self._parts.append(text)
        now = time.monotonic()
        if now - self._drawn_at >= REDRAW_EVERY_S:
            self._draw()
            self._drawn_at = now

    def finish(self) -> None:
        self._draw()

    def _draw(self) -> None:
        if self._handle is not None:
            self._handle.update(
                markdown_bundle(self.text, as_json=self._as_json),
                raw=True,
                metadata=ANSWER_METADATA,
            )


@dataclass(frozen=True)
class ChatFigures:
    """The numbers that make a call's cost visible."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    first_token_s: float | None
    """``None`` when the answer was not streamed."""
    last_token_s: float | None
    total_s: float
    messages_sent: int
    history_name: str | None
    finish_reason: str | None = None

    @property
    def tokens_per_s(self) -> float:
        """Generation speed: gaps between streamed tokens, else the whole call."""
        first, last = self.first_token_s, self.last_token_s
        if first is not None and last is not None and last > first and self.completion_tokens > 1:
            return (self.completion_tokens - 1) / (last - first)
        return self.completion_tokens / self.total_s if self.total_s > 0 else 0.0

    def summary(self) -> str:
        parts = [
            self.model,
            f"sent {self.messages_sent} message{'s' if self.messages_sent != 1 else ''}",
            f"{self.prompt_tokens} tokens in",
            f"{self.completion_tokens} tokens out",
        ]
        if self.first_token_s is not None:
            parts.append(f"first token {self.first_token_s:.2f} s")
        parts += [f"total {self.total_s:.2f} s", f"{self.tokens_per_s:.1f} tokens/s"]
        line = " · ".join(parts)
        if self.finish_reason == "length":
            line += " · cut short: the token limit was reached"
        if self.history_name:
            line += f" · history '{self.history_name}' is resent in full on every call"
        return line

    def show(self) -> None:
        text = self.summary()
        display(
            {
                "text/plain": text,
                "text/html": f'<div class="nbext-figures" style="color:#666;font-size:0.85em">'
                f"{html.escape(text)}</div>",
            },
            raw=True,
        )
