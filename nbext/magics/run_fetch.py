"""Fetch what a run did and fill the views with it, after (or without) streaming.

Standard objects come through the SDK; nbext's own ``/context`` and
``/prompts`` routes through the same client (``client.get``), so the key,
base URL and error handling are the ones the learner's code uses.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import openai
from openai.types.beta.threads import Message, Run

from nbext.protocol import INCLUDE_FILE_SEARCH_CONTENT, run_context_path, run_prompts_path
from nbext.widgets.context_window import ContextWindowView
from nbext.widgets.prompt_view import PromptView
from nbext.widgets.run_steps import RunSteps
from nbext.widgets.thread_view import ThreadView


def message_text(message: dict[str, Any]) -> str:
    return "\n".join(
        (c.get("text") or {}).get("value", "")
        for c in message.get("content") or []
        if c.get("type") == "text"
    )


def thread_messages(client: openai.OpenAI, thread_id: str) -> list[dict[str, Any]]:
    """Every message of the thread, oldest first, as JSON."""
    page = client.beta.threads.messages.list(thread_id, order="asc", limit=100)
    return [m.model_dump(mode="json") for m in page]


def run_steps(client: openai.OpenAI, thread_id: str, run_id: str) -> list[dict[str, Any]]:
    try:
        page = client.beta.threads.runs.steps.list(
            run_id,
            thread_id=thread_id,
            order="asc",
            limit=100,
            include=[INCLUDE_FILE_SEARCH_CONTENT],
        )
    except openai.BadRequestError:  # a server that does not know ``include``
        page = client.beta.threads.runs.steps.list(
            run_id, thread_id=thread_id, order="asc", limit=100
        )
    return [s.model_dump(mode="json") for s in page]


def run_context(client: openai.OpenAI, thread_id: str, run_id: str) -> dict[str, Any] | None:
    """nbext's ``/context`` of a run; None if the run never built a prompt (or no such route)."""
    try:
        return client.get(run_context_path(thread_id, run_id), cast_to=object)  # type: ignore[return-value]
    except openai.NotFoundError:
        return None


def run_prompts(client: openai.OpenAI, thread_id: str, run_id: str) -> list[dict[str, Any]]:
    try:
        page = client.get(run_prompts_path(thread_id, run_id), cast_to=object)
    except openai.NotFoundError:
        return []
    return list(page.get("data") or [])  # type: ignore[union-attr]


class FileCache:
    """File names and image bytes, fetched once per kernel; missing files stay ids."""

    def __init__(self, client: openai.OpenAI) -> None:
        self.client = client
        self.names: dict[str, str] = {}
        self.images: dict[str, str] = {}

    def name(self, file_id: str) -> str:
        if file_id not in self.names:
            try:
                self.names[file_id] = self.client.files.retrieve(file_id).filename
            except openai.OpenAIError:
                self.names[file_id] = file_id
        return self.names[file_id]

    def image(self, file_id: str) -> str | None:
        if file_id not in self.images:
            try:
                data = self.client.files.content(file_id).read()
            except openai.OpenAIError:
                return None
            kind = "jpeg" if data[:3] == b"\xff\xd8\xff" else "png"
            self.images[file_id] = f"data:image/{kind};base64,{base64.b64encode(data).decode()}"
        return self.images[file_id]

    def collect(self, objects: list[dict[str, Any]]) -> None:
        """Fetch names and images for every file id the objects mention."""
        for file_id, is_image in _file_ids(objects):
            self.name(file_id)
            if is_image:
                self.image(file_id)


def _file_ids(value: Any, image: bool = False) -> list[tuple[str, bool]]:
    found: list[tuple[str, bool]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "file_id" and isinstance(item, str):
                found.append((item, image))
            else:
                found += _file_ids(item, image or key in ("image_file", "image"))
    elif isinstance(value, list):
        for item in value:
            found += _file_ids(item, image)
    return found


def context_rows(context: dict[str, Any], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per thread message that existed when the run started."""
    counts: dict[str, int] = context.get("message_tokens") or {}
    known = set(context.get("sent_message_ids") or []) | set(
        context.get("omitted_message_ids") or []
    )
    rows = []
    for message in messages:
        if message["id"] not in known:
            continue
        text = message_text(message)
        exact = counts.get(message["id"])
        rows.append(
            {
                "id": message["id"],
                "role": message.get("role", "?"),
                "tokens": exact if exact is not None else max(1, math.ceil(len(text) / 4)),
                "estimated": exact is None,
                "preview": text[:80],
            }
        )
    return rows


def by_hand_messages(run: Run, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What ``%%chat --history`` would send for this turn: everything, every time."""
    sent: list[dict[str, Any]] = []
    if run.instructions:
        sent.append({"role": "system", "content": run.instructions})
    for message in messages:
        if message.get("run_id") == run.id or message.get("created_at", 0) > run.created_at:
            continue
        sent.append({"role": message.get("role"), "content": message_text(message)})
    return sent


def fill_inspectors(
    client: openai.OpenAI,
    run: Run,
    *,
    steps: RunSteps,
    context: ContextWindowView,
    prompts: PromptView,
    files: FileCache,
    thread: ThreadView | None = None,
) -> list[dict[str, Any]]:
    """Load the run's steps, context and prompts into the views; return the thread."""
    messages = thread_messages(client, run.thread_id)
    step_list = run_steps(client, run.thread_id, run.id)
    files.collect(messages + step_list)
    steps.file_names = dict(files.names)
    steps.images = dict(files.images)
    steps.message_texts = {m["id"]: message_text(m) for m in messages}
    steps.steps = step_list
    found = run_context(client, run.thread_id, run.id)
    if found:
        context.messages = context_rows(found, messages)
        context.context = found
    prompts.by_hand = by_hand_messages(run, messages)
    prompts.prompts = run_prompts(client, run.thread_id, run.id)
    if thread is not None:
        thread.file_names = dict(files.names)
        thread.images = dict(files.images)
        for message in messages:
            if message.get("run_id") == run.id:
                thread.upsert(message)
        shown = {m.get("id") for m in thread.messages}
        thread.earlier = sum(1 for m in messages if m.get("id") not in shown)
    return messages


def as_json(message: Message) -> dict[str, Any]:
    return message.model_dump(mode="json")
