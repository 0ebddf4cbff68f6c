"""A run that did not complete, said plainly: a coloured card, never a traceback.

Red for what went wrong (``failed``, ``expired``, a function that raised),
amber for a run cut short by a budget (``incomplete``), grey for
``cancelled``: each says what happened, the server's ``last_error`` and what
to do next.
"""

from __future__ import annotations

from typing import Any

from traitlets import Dict, List

from nbext.widgets.base import StateView
from nbext.widgets.html_kit import AMBER, GREY, RED, RED_TINT, esc

_COLOURS = {"error": RED, "warning": AMBER, "action": AMBER, "info": GREY}
_BACKGROUNDS = {"error": RED_TINT, "warning": "#fff4e5", "action": "#fff8e1", "info": "#f5f5f5"}

_HINTS = {
    "failed": "The server's last_error says why; the thread is usable again.",
    "expired": "Runs expire when nobody finishes them in time (e.g. tool outputs never "
    "submitted before expires_at).",
    "incomplete": "A token budget stopped the run; raise --max-completion-tokens or "
    "--max-prompt-tokens, or ask for a shorter answer.",
    "cancelled": "The run was cancelled; the words it had written are kept.",
}


def card_for_run(run: dict[str, Any]) -> dict[str, str] | None:
    """The card a finished run deserves, or None if it completed (or is still going)."""
    status = run.get("status")
    if status not in _HINTS:
        return None
    error = run.get("last_error") or {}
    if error:
        detail = f"{error.get('code', 'error')}: {error.get('message', '')}"
    elif status == "incomplete":
        detail = f"incomplete_details.reason: {(run.get('incomplete_details') or {}).get('reason')}"
    elif status == "expired":
        detail = f"expires_at {run.get('expires_at')} passed before the run finished"
    else:
        detail = ""
    level = {"incomplete": "warning", "cancelled": "info"}.get(str(status), "error")
    return {"level": level, "title": f"run {status}", "detail": detail, "hint": _HINTS[status]}


class ErrorCard(StateView):
    """Model: ``cards`` — ``{"level", "title", "detail", "hint"}``; empty draws nothing."""

    cards = List(Dict()).tag(state=True)

    def add(self, level: str, title: str, detail: str = "", hint: str = "") -> None:
        card = {"level": level, "title": title, "detail": detail, "hint": hint}
        self.cards = [*self.cards, card]

    def render(self) -> str:
        return "".join(self._card(c) for c in self.cards)

    def summary(self) -> str:
        return "\n".join(f"nbext {c['title']}: {c['detail']}".rstrip(": ") for c in self.cards)

    @staticmethod
    def _card(card: dict[str, str]) -> str:
        level = card.get("level", "error")
        colour, background = _COLOURS.get(level, RED), _BACKGROUNDS.get(level, RED_TINT)
        detail = f"<div><code>{esc(card['detail'])}</code></div>" if card.get("detail") else ""
        hint = card.get("hint", "")
        hint = f'<div style="font-size:0.85em">{esc(hint)}</div>' if hint else ""
        return (
            f'<div class="nbext-error-card nbext-{esc(level)}" style="border-left:4px solid '
            f'{colour};background:{background};padding:6px 10px;margin:4px 0;color:#333">'
            f"<b>{esc(card['title'])}</b>{detail}{hint}</div>"
        )
