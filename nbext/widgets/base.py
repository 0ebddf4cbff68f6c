"""The pattern every nbext view follows: state traitlets in, HTML out.

A view is an ``ipywidgets.HTML`` whose *model* is a few plain traitlets
(JSON-shaped dicts and lists, so tests and notebooks can read them) and
whose *view* is :meth:`render`, a pure function of that state. Changing the
state redraws the live widget; while a run streams (``throttle = True``) at
most 20 times a second, and whoever streams calls :meth:`flush` at the end.
The same :meth:`render` is the ``text/html`` of the output bundle, so a
saved notebook reads well where widgets do not run (nbconvert, GitHub), and
:meth:`summary` is its ``text/plain`` (no ids or timings: nbval compares it).
"""

from __future__ import annotations

import time
from typing import Any

import ipywidgets as widgets

REDRAW_EVERY_S = 0.05
"""Redrawing per token costs more than generating it; 20 times a second is smooth."""


def upserted(items: list[dict[str, Any]], item: dict[str, Any]) -> list[dict[str, Any]]:
    """``items`` with ``item`` in place of the one with its id, else appended.

    A new list, not an edit in place: traitlets notices (and redraws) only
    when the state is replaced. Streams send a snapshot per delta, so this is
    how a message or step grows in place instead of repeating.
    """
    for i, old in enumerate(items):
        if old.get("id") == item.get("id"):
            return [*items[:i], item, *items[i + 1 :]]
    return [*items, item]


class StateView(widgets.HTML):
    """Subclasses declare state with ``.tag(state=True)`` and implement ``render``."""

    def __init__(self, **state: Any) -> None:
        super().__init__()
        self._drawn_at = 0.0
        self._dirty = False
        self.throttle = False
        with self.hold_trait_notifications():
            for name, value in state.items():
                setattr(self, name, value)
        self.observe(self._state_changed, names=list(self.trait_names(state=True)))
        self.flush()

    # -- what subclasses write ------------------------------------------------

    def render(self) -> str:
        raise NotImplementedError

    def summary(self) -> str:
        return type(self).__name__

    # -- drawing ----------------------------------------------------------------

    def _state_changed(self, _change: Any) -> None:
        self._dirty = True
        now = time.monotonic()
        if not self.throttle or now - self._drawn_at >= REDRAW_EVERY_S:
            self.flush()

    def flush(self) -> None:
        """Draw the current state now (the end of a stream calls this)."""
        self.value = self.render()
        self._drawn_at = time.monotonic()
        self._dirty = False

    def state(self) -> dict[str, Any]:
        """The model's data, as plain Python."""
        return {name: getattr(self, name) for name in self.trait_names(state=True)}

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data = super()._repr_mimebundle_(**kwargs) or {}
        data["text/html"] = self.render()
        data["text/plain"] = self.summary()
        return data


class Panel(widgets.VBox):
    """Several views shown as one output, with one static HTML for all of them."""

    def __init__(self, views: list[StateView], css_id: str = "") -> None:
        super().__init__(children=views)
        self.views = views
        self.css_id = css_id
        self.add_class("nbext-panel")

    def flush(self) -> None:
        for view in self.views:
            view.flush()

    def throttle(self, on: bool) -> None:
        """Streaming changes the state per token: redraw at most 20 times a second."""
        for view in self.views:
            view.throttle = on

    def render(self) -> str:
        ident = f' id="{self.css_id}"' if self.css_id else ""
        inner = "".join(v.render() for v in self.views)
        return f'<div class="nbext-panel"{ident}>{inner}</div>'

    def summary(self) -> str:
        return "\n".join(s for s in (v.summary() for v in self.views) if s)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data = super()._repr_mimebundle_(**kwargs) or {}
        data["text/html"] = self.render()
        data["text/plain"] = self.summary()
        return data
