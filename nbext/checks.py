"""Check cells of the tutorials' exercises: a friendly verdict, never an exception.

Each check takes what the learner built and returns one sentence that starts
with "Well done" or "Not yet", so a notebook cell can show it as is and a
test can feed it wrong answers and see them refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any


def _roles(messages: Sequence[dict[str, Any]]) -> list[str]:
    return [str(m.get("role")) for m in messages]


def check_quiz(conversation: Any) -> str:
    """00: a history that starts with a system message and holds two questions."""
    if not isinstance(conversation, list):
        return "Not yet: `quiz` should be the list that --history quiz keeps for you."
    roles = _roles(conversation)
    if roles[:1] != ["system"]:
        return "Not yet: the first message should be the system message (use --system)."
    if roles.count("user") < 2:
        return f"Not yet: ask two questions; the history holds {roles.count('user')}."
    return f"Well done: {len(conversation)} messages, all of them resent on the next call."


def check_json_city(text: Any) -> str:
    """01: the model's answer parses as a JSON object with ``city`` and ``country``."""
    if not isinstance(text, str):
        return "Not yet: pass the message text, e.g. reply.choices[0].message.content."
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return "Not yet: that is not JSON. Ask for response_format={'type': 'json_object'}."
    if not isinstance(value, dict) or not {"city", "country"} <= set(value):
        return "Not yet: the object needs the keys 'city' and 'country' (name them in the prompt)."
    return f"Well done: {value['city']} is in {value['country']}, as parseable JSON."


def check_keep_last(keep_last: Callable[[list[dict[str, Any]], int], list[dict[str, Any]]]) -> str:
    """02: ``keep_last(history, n)`` keeps the system message and the last ``n`` others."""
    history = [
        {"role": "system", "content": "Be brief."},
        *[
            {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"}
            for i in range(6)
        ],
    ]
    original = [dict(m) for m in history]
    try:
        kept = keep_last(history, 2)
    except Exception as error:  # the learner's code: report, don't raise
        return f"Not yet: keep_last raised {type(error).__name__}: {error}."
    if history != original:
        return "Not yet: keep_last changed the history it was given; return a new list."
    if not isinstance(kept, list) or not kept or kept[0] != history[0]:
        return "Not yet: the system message must stay first."
    if kept[1:] != history[-2:]:
        return "Not yet: after the system message keep exactly the last n messages, in order."
    return "Well done: the system message stays, the oldest turns go."


def check_thread_to_items(thread_to_items: Callable[[list[Any]], Any], messages: list[Any]) -> str:
    """09: thread messages (oldest first) become Responses input message items."""
    from openai.types.responses import ResponseInputParam
    from pydantic import TypeAdapter, ValidationError

    try:
        items = thread_to_items(messages)
    except Exception as error:  # the learner's code: report, don't raise
        return f"Not yet: thread_to_items raised {type(error).__name__}: {error}."
    if not isinstance(items, list) or len(items) != len(messages):
        return f"Not yet: expected one item per message ({len(messages)}), got {items!r:.80}."
    try:
        TypeAdapter(ResponseInputParam).validate_python(items)
    except ValidationError:
        return "Not yet: each item should look like {'role': 'user', 'content': 'text'}."
    expected = [(m.role, m.content[0].text.value) for m in messages]
    if [(i.get("role"), i.get("content")) for i in items] != expected:
        return "Not yet: keep the messages in order, with their roles and their text."
    return f"Well done: {len(items)} items, ready for responses.create(input=...)."


def check_support_bot(recommendation: Any) -> str:
    """08: a bot that remembers customers and searches manuals wants server-side state."""
    api = getattr(recommendation, "api", None)
    if not isinstance(api, str):
        return "Not yet: pass what recommend(...) returned."
    if not api.startswith("Assistants"):
        return (
            "Not yet: remembering each customer for a week is state, and searching manuals "
            "is a server-side tool. Answer those two questions with True."
        )
    return "Well done: state and file search both point to a stateful server."
