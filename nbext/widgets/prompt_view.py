"""Prompt view: the exact Chat Completions request(s) a run made, next to the
request you would send by hand with ``%%chat --history``.

Left: what the server sent for each model call (from nbext's ``/prompts``
endpoint) — instructions as a system message, the thread as the truncation
policy left it, tool definitions, and after a tool call the ``tool`` results.
Right: the whole conversation, resent in full, as ``%%chat --history`` does.
The difference between the two columns is what the Assistants API adds.
"""

from __future__ import annotations

import json
from typing import Any

from traitlets import Dict, List

from nbext.widgets.base import StateView
from nbext.widgets.html_kit import BOX, GREY, ROLE_COLOURS, badge, esc, plural, pre, section


class PromptView(StateView):
    """Model: ``prompts`` (``thread.run.prompt`` objects) and ``by_hand`` (the
    Chat Completions messages ``%%chat --history`` would send for the same turn)."""

    prompts = List(Dict()).tag(state=True)
    by_hand = List(Dict()).tag(state=True)

    def render(self) -> str:
        if not self.prompts:
            return ""
        calls = "".join(self._call(p) for p in self.prompts)
        return section(
            f"Prompts: {plural(len(self.prompts), 'model call')} (Chat Completions requests)",
            f'<div class="nbext-prompt-view">{calls}</div>',
            "nbext-prompts",
            open_=False,
        )

    def summary(self) -> str:
        if not self.prompts:
            return ""
        sizes = [len((p.get("request") or {}).get("messages") or []) for p in self.prompts]
        line = f"prompts: {plural(len(self.prompts), 'call')} sending {sizes} messages"
        asked = {str((p.get("request") or {}).get("model")) for p in self.prompts}
        served = {str(p.get("served_by")) for p in self.prompts if p.get("served_by")}
        if served and served != asked:
            line += f" ({', '.join(sorted(asked))} → {', '.join(sorted(served))})"
        return line

    def _call(self, record: dict[str, Any]) -> str:
        request = record.get("request") or {}
        index = int(record.get("index", 0))
        settings = {k: v for k, v in request.items() if k not in ("messages", "tools")}
        tools = [
            (t.get("function") or {}).get("name") or t.get("type")
            for t in request.get("tools") or []
        ]
        left = (
            f"<div><b>call {index}: what the run sent</b></div>"
            + "".join(_message(m) for m in request.get("messages") or [])
            + (f"<div>tools: <code>{esc(', '.join(map(str, tools)))}</code></div>" if tools else "")
            + pre(json.dumps(settings, indent=1), "nbext-request-settings")
        )
        response = record.get("response")
        served_by = record.get("served_by")
        if served_by and served_by != request.get("model"):
            # An OpenAI name (gpt-4o) served by the backend's model: say which.
            left += (
                f'<div class="nbext-served-by">model <code>{esc(str(request.get("model")))}'
                f"</code> → served by <code>{esc(served_by)}</code></div>"
            )
        if response:
            left += "<div><b>→ the model answered</b></div>" + _message(response)
        right = (
            "<div><b>by hand: <code>%%chat --history</code> sends</b></div>"
            + "".join(_message(m) for m in self.by_hand)
            if index == 0 and self.by_hand
            else ""
        )
        return (
            f'<div class="nbext-prompt-call" data-index="{index}" style="display:flex;gap:12px;'
            f'{BOX}"><div style="flex:1;min-width:0">{left}</div>'
            f'<div class="nbext-by-hand" style="flex:1;min-width:0">{right}</div></div>'
        )


def _message(message: dict[str, Any]) -> str:
    role = str(message.get("role", "?"))
    content = message.get("content")
    if isinstance(content, list):
        content = "\n".join(str(p.get("text", p)) for p in content)
    body = str(content or "")
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        body += f"\n→ {function.get('name')}({function.get('arguments')})"
    if message.get("tool_call_id"):
        body = f"[{message['tool_call_id']}] {body}"
    colour = ROLE_COLOURS.get(role, GREY)
    return (
        f'<div class="nbext-prompt-message" style="border-left:3px solid {colour};'
        f'padding-left:6px;margin:2px 0">{badge(role, colour, "nbext-role")}'
        f'<span style="white-space:pre-wrap;font-size:0.9em">{esc(body)}</span></div>'
    )
