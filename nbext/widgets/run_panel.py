"""Every view of one Assistants run, shown as one output and updated in place.

``%%assistant`` streams a run into it, ``%assistant steps`` fills it from a
finished run; either way the learner sees the same seven views, in the same
order, and a saved notebook keeps one static HTML of all of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.display import display

from nbext.widgets.base import Panel
from nbext.widgets.context_window import ContextWindowView
from nbext.widgets.error_card import ErrorCard
from nbext.widgets.prompt_view import PromptView
from nbext.widgets.run_steps import RunSteps
from nbext.widgets.run_timeline import RunTimeline
from nbext.widgets.thread_view import ThreadView
from nbext.widgets.usage_meter import UsageMeter

if TYPE_CHECKING:  # the views hold JSON; only this slot keeps the SDK's object
    from openai.types.beta.threads import Run


class RunPanel:
    """Thread, errors, timeline, steps, usage, context window and prompts of one run."""

    def __init__(self, *, show: bool = True) -> None:
        self.thread = ThreadView()
        self.errors = ErrorCard()
        self.timeline = RunTimeline()
        self.steps = RunSteps()
        self.usage = UsageMeter(title="Tokens on this thread")
        self.context = ContextWindowView()
        self.prompts = PromptView()
        self.views = [
            self.thread,
            self.errors,
            self.timeline,
            self.steps,
            self.usage,
            self.context,
            self.prompts,
        ]
        self.panel = Panel(self.views)
        self.run: Run | None = None
        """The run as last seen (a stream event or a retrieve), for whoever drives the panel."""
        self._handle: Any = display(self.panel, display_id=True) if show else None

    def refresh(self) -> None:
        """Redraw everything now and refresh the saved output's static HTML."""
        self.panel.flush()
        if self._handle is not None:
            self._handle.update(self.panel)
