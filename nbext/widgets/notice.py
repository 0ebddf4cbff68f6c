"""One short, visible message in a cell instead of a traceback."""

from __future__ import annotations

import html

from IPython.display import display


def show_error(message: str) -> None:
    """Show what went wrong and what to do, as a red box (plain text elsewhere)."""
    display(
        {
            "text/plain": f"nbext error: {message}",
            "text/html": (
                '<div class="nbext-error" style="border-left:4px solid #c62828;'
                'background:#fdecea;padding:6px 10px;color:#611a15">'
                f"<b>nbext error</b>: {html.escape(message)}</div>"
            ),
        },
        raw=True,
    )
