"""Thread view: a thread's messages with roles, attachments, images and citations.

Citations are the Assistants API's ``annotations``: the model's text holds a
marker such as ``【4:0†source】`` and the annotation says which file (and,
for ``file_citation``, which quote) it stands for. The view swaps each marker
for a numbered footnote, the way the hosted playground did.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from traitlets import Dict, Int, List, Unicode

from nbext.widgets.base import StateView, upserted
from nbext.widgets.html_kit import BOX, GREY, ROLE_COLOURS, badge, esc, plural


class ThreadView(StateView):
    """Model: ``messages`` (Message objects as JSON, oldest first), ``earlier``
    (how many older messages the thread holds that are not shown: a run's view
    shows its own turn only), ``file_names`` (file id -> name) and ``images``
    (file id -> data URI, fetched by the magic)."""

    title = Unicode("").tag(state=True)
    messages = List(Dict()).tag(state=True)
    earlier = Int(0).tag(state=True)
    file_names = Dict().tag(state=True)
    images = Dict().tag(state=True)

    def upsert(self, message: dict[str, Any]) -> None:
        """Add a message, or replace the one with its id (a streamed snapshot)."""
        self.messages = upserted(self.messages, message)

    def render(self) -> str:
        title = f'<div style="font-weight:600">{esc(self.title)}</div>' if self.title else ""
        body = "".join(self._message(m) for m in self.messages)
        return f'<div class="nbext-thread">{title}{body}</div>'

    def summary(self) -> str:
        if not self.messages:
            return ""
        roles = Counter(str(m.get("role", "?")) for m in self.messages)
        counts = ", ".join(f"{n} {role}" for role, n in roles.items())
        head = f"{self.title}: " if self.title else ""
        if not self.earlier:
            return f"{head}{plural(len(self.messages), 'message')} ({counts})"
        total = len(self.messages) + self.earlier
        return f"{head}{plural(total, 'message')} ({self.earlier} earlier; this turn: {counts})"

    def _message(self, message: dict[str, Any]) -> str:
        role = str(message.get("role", "?"))
        notes: list[str] = []
        parts = [self._content(c, notes) for c in message.get("content") or []]
        status = message.get("status")
        flag = ""
        if status and status != "completed":
            reason = (message.get("incomplete_details") or {}).get("reason")
            flag = badge(f"{status}{': ' + reason if reason else ''}", GREY)
        attachments = self._attachments(message.get("attachments") or [])
        footnotes = ""
        if notes:
            items = "".join(f'<li class="nbext-citation">{n}</li>' for n in notes)
            footnotes = (
                f'<ol class="nbext-footnotes" style="font-size:0.8em;margin:4px 0">{items}</ol>'
            )
        colour = ROLE_COLOURS.get(role, GREY)
        return (
            f'<div class="nbext-message nbext-role-{esc(role)}" data-message-id="'
            f'{esc(message.get("id", ""))}" style="{BOX};border-left:4px solid {colour}">'
            f"{badge(role, colour, 'nbext-role')}{flag}"
            f'<div style="white-space:pre-wrap">{"".join(parts)}</div>'
            f"{attachments}{footnotes}</div>"
        )

    def _content(self, content: dict[str, Any], notes: list[str]) -> str:
        kind = content.get("type")
        if kind == "text":
            return self._text(content.get("text") or {}, notes)
        if kind == "image_file":
            file_id = (content.get("image_file") or {}).get("file_id", "")
            return self._image(self.images.get(file_id), file_id)
        if kind == "image_url":
            url = (content.get("image_url") or {}).get("url", "")
            return self._image(url, url)
        if kind == "refusal":
            return f"<i>refused: {esc(content.get('refusal', ''))}</i>"
        return f"<i>[{esc(kind)}]</i>"

    def _text(self, text: dict[str, Any], notes: list[str]) -> str:
        value = str(text.get("value", ""))
        out: list[str] = []
        cursor = 0
        spans = sorted(text.get("annotations") or [], key=lambda a: a.get("start_index", 0))
        for note in spans:
            start, end = note.get("start_index"), note.get("end_index")
            if start is None or end is None or start < cursor:
                continue
            out.append(esc(value[cursor:start]))
            notes.append(self._footnote(note))
            out.append(f'<sup class="nbext-cite">[{len(notes)}]</sup>')
            cursor = end
        out.append(esc(value[cursor:]))
        return "".join(out)

    def _footnote(self, note: dict[str, Any]) -> str:
        if note.get("type") == "file_citation":
            cited = note.get("file_citation") or {}
            file_id = cited.get("file_id", "")
            quote = cited.get("quote")
            said = f" — “{esc(quote)}”" if quote else ""
            return f"{esc(self.file_names.get(file_id, file_id))}{said}"
        path = note.get("file_path") or {}
        file_id = path.get("file_id", "")
        return f"file {esc(self.file_names.get(file_id, file_id))} ({esc(note.get('text', ''))})"

    def _image(self, src: str | None, label: str) -> str:
        if not src:
            return f'<div class="nbext-image-missing"><i>[image {esc(label)}]</i></div>'
        return (
            f'<img class="nbext-image" src="{esc(src)}" alt="{esc(label)}" '
            'style="max-width:100%;max-height:360px;display:block;margin:4px 0">'
        )

    def _attachments(self, attachments: list[dict[str, Any]]) -> str:
        if not attachments:
            return ""
        items = []
        for item in attachments:
            file_id = item.get("file_id", "")
            tools = ", ".join(t.get("type", "?") for t in item.get("tools") or [])
            name = self.file_names.get(file_id, file_id)
            items.append(f'<span class="nbext-attachment">📎 {esc(name)} → {esc(tools)}</span>')
        return f'<div style="font-size:0.85em;color:{GREY}">{" ".join(items)}</div>'
