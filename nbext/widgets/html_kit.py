"""Tiny HTML helpers shared by the views: escaping, cards, badges, bars.

Styles are inline, not a ``<style>`` block: GitHub's notebook renderer and
JupyterLab's sanitizer drop style sheets from outputs but keep ``style=``,
so the saved notebook looks the same as the live one.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

RED = "#c62828"
AMBER = "#ef6c00"
GREY = "#757575"
BLUE = "#1565c0"
GREEN = "#2e7d32"
RED_TINT = "#fdecea"
"""The background of anything red: an error card, the one-line error of a magic."""

ROLE_COLOURS = {"user": BLUE, "assistant": GREEN, "system": GREY, "tool": AMBER}
STATUS_COLOURS = {
    "queued": GREY,
    "in_progress": BLUE,
    "requires_action": AMBER,
    "cancelling": GREY,
    "cancelled": GREY,
    "completed": GREEN,
    "incomplete": AMBER,
    "failed": RED,
    "expired": RED,
}

MONO = "font-family:var(--jp-code-font-family,monospace);font-size:0.85em"
BOX = "border:1px solid #ddd;border-radius:6px;padding:6px 10px;margin:4px 0"


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def badge(text: str, colour: str, css_class: str = "nbext-badge") -> str:
    return (
        f'<span class="{css_class}" style="background:{colour};color:#fff;border-radius:4px;'
        f'padding:0 6px;font-size:0.8em;margin-right:6px">{esc(text)}</span>'
    )


def pre(text: str, css_class: str = "nbext-pre") -> str:
    return (
        f'<pre class="{css_class}" style="{MONO};white-space:pre-wrap;margin:2px 0;'
        f'background:#f6f8fa;padding:4px 6px;border-radius:4px">{esc(text)}</pre>'
    )


def section(title: str, body: str, css_class: str, *, open_: bool = True) -> str:
    """A titled block; closed ones are ``<details>`` so long views stay out of the way."""
    attr = " open" if open_ else ""
    return (
        f'<details class="{css_class}"{attr} style="margin:6px 0">'
        f'<summary style="cursor:pointer;font-weight:600">{esc(title)}</summary>{body}</details>'
    )


def join(parts: Iterable[str]) -> str:
    return "".join(parts)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
