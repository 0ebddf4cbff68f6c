"""Notebook 08's decision aid: four questions, one recommendation.

The reasoning lives in :func:`recommend` (plain, testable); the widget only
asks and shows. Its static HTML says the same, for notebooks read offline.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import ipywidgets as widgets

QUESTIONS: dict[str, str] = {
    "stateful": "Must the conversation be remembered between requests?",
    "complex": "Does the task need several tool calls or steps per answer?",
    "integration": "Do you need server-side tools (code execution, file search)?",
    "overhead": "Is keeping development overhead low more important than control?",
}


@dataclass(frozen=True)
class Recommendation:
    api: str
    reasons: tuple[str, ...]


def recommend(
    *, stateful: bool, complex: bool, integration: bool, overhead: bool
) -> Recommendation:
    """Weigh the four questions: each "yes" is a reason to let a server keep state."""
    reasons = []
    if stateful:
        reasons.append("the server keeps the thread, so you don't resend history")
    if complex:
        reasons.append("the run drives the tool loop and records every step")
    if integration:
        reasons.append("code interpreter and file search run server-side")
    if overhead:
        reasons.append("less code of your own to write and maintain")
    if len(reasons) >= 2:
        return Recommendation(
            "Assistants-style (stateful server: threads and runs)", tuple(reasons)
        )
    return Recommendation(
        "Chat Completions (stateless: you hold the state and the loop)",
        ("full control of every request, nothing stored server-side", *reasons),
    )


class DecisionAid(widgets.VBox):
    """Yes/no toggles for the four questions and the recommendation they give."""

    def __init__(self) -> None:
        self.toggles = {
            key: widgets.ToggleButtons(options=["no", "yes"], value="no", description="")
            for key in QUESTIONS
        }
        self.verdict = widgets.HTML()
        rows = [
            widgets.HBox([widgets.Label(QUESTIONS[key], layout={"width": "60%"}), toggle])
            for key, toggle in self.toggles.items()
        ]
        super().__init__([*rows, self.verdict])
        for toggle in self.toggles.values():
            toggle.observe(lambda _: self._update(), names="value")
        self._update()

    @property
    def recommendation(self) -> Recommendation:
        answers = {key: toggle.value == "yes" for key, toggle in self.toggles.items()}
        return recommend(**answers)

    def _update(self) -> None:
        self.verdict.value = _verdict_html(self.recommendation)

    def _repr_mimebundle_(self, **kwargs: object) -> dict[str, str]:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        questions = "".join(f"<li>{html.escape(q)}</li>" for q in QUESTIONS.values())
        bundle["text/html"] = f"<ol>{questions}</ol>{_verdict_html(self.recommendation)}"
        bundle["text/plain"] = f"DecisionAid: {self.recommendation.api}"
        return bundle


def _verdict_html(recommendation: Recommendation) -> str:
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in recommendation.reasons)
    return (
        f'<div class="nbext-decision"><b>{html.escape(recommendation.api)}</b>'
        f"<ul>{reasons}</ul></div>"
    )
