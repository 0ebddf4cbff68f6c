"""The user's question again, after a tool's result (both server-side tools end with it).

Said at the end of the tool output because that is what a small model reads
last: without it, a 0.5B model tends to call the tool again (as text) rather
than answer from the result, or, after code that failed, answer with the error
instead of fixing the code.
"""

from __future__ import annotations

from nbext.store import MESSAGES, ListQuery, Store
from nbext.tools.registry import ToolContext


def question_footer(store: Store, context: ToolContext, *, retry: str | None = None) -> str:
    """The question and what to do next: answer it, or (``retry`` says how) try again.

    After failed code the model is told to fix it, not to answer: told to answer,
    a small model reports the error or writes its call again as text.
    """
    task = retry or "Answer in one sentence."
    page = store.list(MESSAGES, context.owner, ListQuery(limit=20), thread_id=context.thread.id)
    for message in page.data:
        if message.role == "user":
            text = " ".join(b.text.value for b in message.content if b.type == "text")
            if text.strip():
                return f"Question: {text.strip()}\n{task}"
    return retry or "Answer the user in one sentence."
