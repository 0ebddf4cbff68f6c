"""The user's question again, after a tool's result (both server-side tools end with it).

Said at the end of the tool output because that is what a small model reads
last: without it, a 0.5B model tends to call the tool again (as text) rather
than answer from the result.
"""

from __future__ import annotations

from nbext.store import MESSAGES, ListQuery, Store
from nbext.tools.registry import ToolContext


def question_footer(store: Store, context: ToolContext) -> str:
    page = store.list(MESSAGES, context.owner, ListQuery(limit=20), thread_id=context.thread.id)
    for message in page.data:
        if message.role == "user":
            text = " ".join(b.text.value for b in message.content if b.type == "text")
            if text.strip():
                return f"Question: {text.strip()}\nAnswer in one sentence."
    return "Answer the user in one sentence."
