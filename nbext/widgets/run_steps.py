"""Run steps: one card per step, the server-side work the Assistants API hides.

A ``message_creation`` step wrote a message; a ``tool_calls`` step holds
code interpreter calls (code, logs, images), file search calls (query,
results with scores and file names) and function calls (name, arguments,
output, and who submitted that output: nbext running the function, or you).
"""

from __future__ import annotations

from typing import Any

from traitlets import Dict, List

from nbext.widgets.base import StateView, upserted
from nbext.widgets.html_kit import BOX, GREY, MONO, RED, STATUS_COLOURS, badge, esc, plural, pre


class RunSteps(StateView):
    """Model: ``steps`` (RunStep objects as JSON, oldest first), ``submitted_by``
    (tool call id -> who submitted its output), ``file_names``, ``images``
    (file id -> data URI) and ``message_texts`` (message id -> text, for previews)."""

    steps = List(Dict()).tag(state=True)
    submitted_by = Dict().tag(state=True)
    file_names = Dict().tag(state=True)
    images = Dict().tag(state=True)
    message_texts = Dict().tag(state=True)

    def upsert(self, step: dict[str, Any]) -> None:
        """Add a step, or replace the one with its id (a streamed snapshot)."""
        self.steps = upserted(self.steps, step)

    @property
    def kinds(self) -> list[str]:
        """Step types with their tools, e.g. ``["tool_calls:function", "message_creation"]``."""
        out = []
        for step in self.steps:
            details = step.get("step_details") or {}
            if details.get("type") == "tool_calls":
                tools = ",".join(c.get("type", "?") for c in details.get("tool_calls") or [])
                out.append(f"tool_calls:{tools}")
            else:
                out.append(str(details.get("type", step.get("type"))))
        return out

    def render(self) -> str:
        cards = "".join(self._card(i, s) for i, s in enumerate(self.steps, 1))
        return (
            f'<div class="nbext-steps"><div style="font-weight:600">Run steps '
            f"({len(self.steps)})</div>{cards}</div>"
        )

    def summary(self) -> str:
        return f"{plural(len(self.steps), 'step')}: {', '.join(self.kinds)}" if self.steps else ""

    def _card(self, number: int, step: dict[str, Any]) -> str:
        details = step.get("step_details") or {}
        kind = str(details.get("type", step.get("type", "?")))
        status = str(step.get("status", "?"))
        if kind == "message_creation":
            message_id = (details.get("message_creation") or {}).get("message_id", "")
            text = self.message_texts.get(message_id, "")
            body = f'<div style="color:{GREY};font-size:0.85em">wrote message</div>'
            if text:
                body += f'<div style="white-space:pre-wrap">{esc(_clip(text, 400))}</div>'
        else:
            body = "".join(self._tool_call(c) for c in details.get("tool_calls") or [])
        usage = step.get("usage") or {}
        tokens = (
            f'<span style="color:{GREY};font-size:0.8em">{usage.get("prompt_tokens", 0)} in · '
            f"{usage.get('completion_tokens', 0)} out</span>"
            if usage
            else ""
        )
        error = step.get("last_error")
        failure = (
            f'<div class="nbext-step-error" style="color:{RED}">'
            f"{esc(error.get('code', ''))}: {esc(error.get('message', ''))}</div>"
            if error
            else ""
        )
        return (
            f'<div class="nbext-step-card nbext-step-{esc(kind)}" data-step-type="{esc(kind)}" '
            f'style="{BOX}"><b>{number}. {esc(kind.replace("_", " "))}</b> '
            f"{badge(status, STATUS_COLOURS.get(status, GREY), 'nbext-status')}{tokens}"
            f"{body}{failure}</div>"
        )

    def _tool_call(self, call: dict[str, Any]) -> str:
        kind = str(call.get("type", "?"))
        if kind == "code_interpreter":
            inner = self._code_interpreter(call.get("code_interpreter") or {})
        elif kind == "file_search":
            inner = self._file_search(call.get("file_search") or {})
        elif kind == "function":
            inner = self._function(call)
        else:
            inner = pre(str(call))
        return (
            f'<div class="nbext-tool-call nbext-tool-{esc(kind)}" style="margin:4px 0 4px 8px;'
            f'padding-left:8px;border-left:2px solid #ddd">{inner}</div>'
        )

    def _code_interpreter(self, ci: dict[str, Any]) -> str:
        parts = [f"<div>code interpreter</div>{pre(ci.get('input', ''), 'nbext-code')}"]
        for output in ci.get("outputs") or []:
            if output.get("type") == "logs":
                parts.append(f"<div>logs</div>{pre(output.get('logs', ''), 'nbext-logs')}")
            elif output.get("type") == "image":
                file_id = (output.get("image") or {}).get("file_id", "")
                src = self.images.get(file_id)
                parts.append(
                    f'<img class="nbext-image" src="{esc(src)}" style="max-width:100%">'
                    if src
                    else f"<i>[image {esc(file_id)}]</i>"
                )
        return "".join(parts)

    def _file_search(self, fs: dict[str, Any]) -> str:
        query = fs.get("query") or (fs.get("ranking_options") or {}).get("query")
        head = f"file search{': ' + esc(query) if query else ''}"
        rows = []
        for result in fs.get("results") or []:
            name = result.get("file_name") or self.file_names.get(result.get("file_id", ""), "")
            text = " ".join(c.get("text", "") for c in result.get("content") or [])
            rows.append(
                f'<tr class="nbext-search-result"><td style="{MONO}">'
                f"{float(result.get('score', 0)):.3f}</td><td>{esc(name)}</td>"
                f"<td>{esc(_clip(text, 200))}</td></tr>"
            )
        table = (
            f'<table style="font-size:0.85em"><tr><th>score</th><th>file</th><th>text</th></tr>'
            f"{''.join(rows)}</table>"
            if rows
            else '<div style="font-size:0.85em">no results listed</div>'
        )
        return f"<div>{head}</div>{table}"

    def _function(self, call: dict[str, Any]) -> str:
        function = call.get("function") or {}
        output = function.get("output")
        who = self.submitted_by.get(call.get("id", ""))
        if output is None:
            said = f'<div style="color:{GREY}">waiting for its output (requires_action)</div>'
        else:
            by = f" — submitted by {esc(who or 'the client, outside %%assistant')}"
            said = f"<div>output{by}</div>{pre(str(output), 'nbext-function-output')}"
        return (
            f'<div>function <code class="nbext-function-name">{esc(function.get("name", ""))}'
            f"</code></div>{pre(function.get('arguments', ''), 'nbext-arguments')}{said}"
        )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
