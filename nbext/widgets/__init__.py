"""Views the magics draw in a cell; each also renders as static HTML/text.

``from nbext.widgets import RunPanel, ThreadView`` works for every view
below. The package imports each view's module only when the view is first
asked for (PEP 562 ``__getattr__``): the magics import
:mod:`nbext.widgets.notice` while ``%load_ext nbext`` runs, and that must
not pull in ipywidgets and every view with it.

- ``chat_view``: what ``%%chat`` draws (streamed Markdown, the figures line)
- ``run_panel``: every view of one Assistants run, as one output
- ``thread_view``, ``run_timeline``, ``run_steps``, ``usage_meter``,
  ``context_window``, ``prompt_view``, ``error_card``: the views of a run
- ``listings``: the line magics' static read-outs (status, threads)
- ``notice``: one short error or note in a cell
- ``decision_aid``: notebook 08's chooser
- ``base``: the pattern every view follows; ``html_kit``: shared HTML bits
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES: dict[str, str] = {
    "ChatFigures": "chat_view",
    "StreamingMarkdown": "chat_view",
    "markdown_bundle": "chat_view",
    "ContextWindowView": "context_window",
    "DecisionAid": "decision_aid",
    "Recommendation": "decision_aid",
    "recommend": "decision_aid",
    "ErrorCard": "error_card",
    "card_for_run": "error_card",
    "ThreadRow": "listings",
    "status_bundle": "listings",
    "threads_bundle": "listings",
    "show_error": "notice",
    "show_note": "notice",
    "Panel": "base",
    "StateView": "base",
    "PromptView": "prompt_view",
    "RunPanel": "run_panel",
    "RunSteps": "run_steps",
    "RunTimeline": "run_timeline",
    "ThreadView": "thread_view",
    "UsageMeter": "usage_meter",
}
"""Exported name -> the module that defines it (the one list of exports)."""

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # found once; later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
