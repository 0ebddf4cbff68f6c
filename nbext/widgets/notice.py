"""One short, visible message in a cell instead of a traceback (or a bare print)."""

from __future__ import annotations

from IPython.display import display

from nbext.widgets.html_kit import RED, RED_TINT, esc


def show_error(message: str) -> None:
    """Show what went wrong and what to do, as a red box (plain text elsewhere)."""
    display(
        {
            "text/plain": f"nbext error: {message}",
            "text/html": (
                f'<div class="nbext-error" style="border-left:4px solid {RED};'
                f'background:{RED_TINT};padding:6px 10px;color:#611a15">'
                f"<b>nbext error</b>: {esc(message)}</div>"
            ),
        },
        raw=True,
    )


def show_note(message: str) -> None:
    """A one-line confirmation (``thread t2 deleted``): plain text, nothing to style."""
    display({"text/plain": message}, raw=True)
