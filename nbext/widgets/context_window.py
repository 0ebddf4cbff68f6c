"""Context window: the thread as a bar of token counts against the model's budget.

The Assistants API decides server-side which thread messages fit; nbext's
``/context`` endpoint says which were sent on a run and which truncation
left out. Each message is a segment as wide as its tokens, blue if sent,
grey if omitted, with the prompt budget marked: the policy made visible.
"""

from __future__ import annotations

from typing import Any

from traitlets import Dict, List

from nbext.protocol import TOKEN_COUNTING_IN_WORDS
from nbext.widgets.base import StateView
from nbext.widgets.html_kit import BLUE, GREY, RED, ROLE_COLOURS, esc, plural


class ContextWindowView(StateView):
    """Model: ``context`` (the run's ``thread.run.context`` object) and ``messages``
    — ``{"id", "role", "tokens", "estimated", "preview"}`` for every thread message,
    oldest first."""

    context = Dict().tag(state=True)
    messages = List(Dict()).tag(state=True)

    @property
    def sent(self) -> list[dict[str, Any]]:
        ids = set(self.context.get("sent_message_ids") or [])
        return [m for m in self.messages if m["id"] in ids]

    @property
    def omitted(self) -> list[dict[str, Any]]:
        ids = set(self.context.get("omitted_message_ids") or [])
        return [m for m in self.messages if m["id"] in ids]

    def render(self) -> str:
        if not self.context:
            return ""
        budget = int(self.context.get("prompt_budget") or 0)
        window = int(self.context.get("context_window") or 0)
        thread_tokens = sum(int(m["tokens"]) for m in self.messages)
        scale = max(budget, thread_tokens, 1)
        sent_ids = set(self.context.get("sent_message_ids") or [])
        segments = []
        for message in self.messages:
            is_sent = message["id"] in sent_ids
            width = 100 * int(message["tokens"]) / scale
            colour = ROLE_COLOURS.get(message["role"], BLUE) if is_sent else GREY
            state = "sent" if is_sent else "omitted"
            segments.append(
                f'<div class="nbext-context-segment nbext-{state}" data-message-id="'
                f'{esc(message["id"])}" title="{esc(message["role"])} · {message["tokens"]} '
                f'tokens · {state}: {esc(message.get("preview", ""))}" style="width:{width:.3f}%;'
                f"background:{colour};opacity:{1 if is_sent else 0.35};"
                'min-width:3px;border-right:1px solid #fff;box-sizing:border-box"></div>'
            )
        marker = (
            f'<div class="nbext-context-budget" style="position:absolute;top:-3px;bottom:-3px;'
            f'left:{min(100, 100 * budget / scale):.3f}%;border-left:2px dashed {RED}"></div>'
            if budget
            else ""
        )
        bar = (
            '<div class="nbext-context-bar" style="position:relative;display:flex;height:18px;'
            f'background:#eee;border-radius:3px;margin:4px 0">{"".join(segments)}{marker}</div>'
        )
        estimated = any(m.get("estimated") for m in self.messages)
        strategy = self.context.get("truncation_strategy") or {}
        kind = strategy.get("type", "auto")
        if kind == "last_messages":
            kind = f"last_messages={strategy.get('last_messages')}"
        lines = [
            f"{plural(len(self.sent), 'message')} sent, {len(self.omitted)} omitted by "
            f"truncation ({esc(kind)})",
            f"first prompt {self.context.get('prompt_tokens', 0)} tokens of a "
            f"{budget}-token budget (context window {window})",
        ]
        if method := self.context.get("token_counting"):
            lines.append(f"tokens counted by {esc(TOKEN_COUNTING_IN_WORDS.get(method, method))}")
        if estimated:
            lines.append("per-message sizes ≈ characters/4: /context does not report them")
        legend = "".join(f"<div>{line}</div>" for line in lines)
        return (
            '<div class="nbext-context" style="margin:6px 0"><div style="font-weight:600">'
            f'Context window</div>{bar}<div style="font-size:0.85em;color:#555">{legend}</div>'
            "</div>"
        )

    def summary(self) -> str:
        if not self.context:
            return ""
        return f"context: {len(self.sent)} sent, {len(self.omitted)} omitted"
