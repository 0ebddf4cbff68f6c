"""What a run writes while it works: run steps and the assistant's messages.

Each write is stored and then published, in the order OpenAI streams them
(``step.created``, ``step.in_progress``, ``message.created``, ... ), so a
client that lists steps and one that reads the stream see the same story.
"""

from __future__ import annotations

from typing import Any

from openai.types import CompletionUsage
from openai.types.beta.threads import Message, MessageDeltaEvent, Run
from openai.types.beta.threads.runs import RunStep

from nbext.engine.lifecycle import Runtime
from nbext.ids import new_id
from nbext.store import MESSAGES, RUN_STEPS
from nbext.tools.registry import Annotated


def new_step(rt: Runtime, run: Run, owner: str, details: dict[str, Any]) -> RunStep:
    step = RunStep.model_validate(
        {
            "id": new_id("step"),
            "object": "thread.run.step",
            "created_at": rt.now(),
            "run_id": run.id,
            "assistant_id": run.assistant_id,
            "thread_id": run.thread_id,
            "type": details["type"],
            "status": "in_progress",
            "step_details": details,
            "cancelled_at": None,
            "completed_at": None,
            "expired_at": None,
            "failed_at": None,
            "last_error": None,
            "metadata": {},
            "usage": None,
        }
    )
    with rt.lock:
        rt.store.insert(RUN_STEPS, owner, step, thread_id=run.thread_id, run_id=run.id)
        rt.hub.publish(run.id, "thread.run.step.created", step)
        rt.hub.publish(run.id, "thread.run.step.in_progress", step)
    return step


def complete_step(rt: Runtime, step_id: str, usage: CompletionUsage | None) -> None:
    """Mark a step completed.

    One model call may produce two steps (some text, then tool calls); its
    usage is credited to the last of them, so steps add up to the run's usage.
    """
    step = rt.store.get(RUN_STEPS, None, step_id)
    counted = usage
    done = RunStep.model_validate(
        {
            **step.model_dump(mode="json"),
            "status": "completed",
            "completed_at": rt.now(),
            "usage": {
                "prompt_tokens": counted.prompt_tokens if counted else 0,
                "completion_tokens": counted.completion_tokens if counted else 0,
                "total_tokens": counted.total_tokens if counted else 0,
            },
        }
    )
    with rt.lock:
        rt.store.update(RUN_STEPS, done)
        rt.hub.publish(step.run_id, "thread.run.step.completed", done)


def new_message(rt: Runtime, run: Run, owner: str) -> tuple[Message, RunStep]:
    """An empty assistant message and the ``message_creation`` step that writes it."""
    message = Message.model_validate(
        {
            "id": new_id("msg"),
            "object": "thread.message",
            "created_at": rt.now(),
            "thread_id": run.thread_id,
            "role": "assistant",
            "content": [],
            "status": "in_progress",
            "assistant_id": run.assistant_id,
            "run_id": run.id,
            "attachments": [],
            "metadata": {},
            "completed_at": None,
            "incomplete_at": None,
            "incomplete_details": None,
        }
    )
    step = new_step(
        rt, run, owner, {"type": "message_creation", "message_creation": {"message_id": message.id}}
    )
    with rt.lock:
        rt.store.insert(MESSAGES, owner, message, thread_id=run.thread_id, run_id=run.id)
        rt.hub.publish(run.id, "thread.message.created", message)
        rt.hub.publish(run.id, "thread.message.in_progress", message)
    return message, step


def with_text(message: Message, text: str) -> Message:
    block = {"type": "text", "text": {"value": text, "annotations": []}}
    return Message.model_validate({**message.model_dump(mode="json"), "content": [block]})


def end_message(rt: Runtime, message: Message, text: str, *, cut: bool) -> Message:
    """The final message; ``cut`` when the model stopped at its token limit.

    The tools' annotators see the text first (citations, file paths, plots);
    what they add is streamed as one last delta before ``message.completed``.
    """
    now = rt.now()
    annotated = rt.tools.annotate(message.run_id, text) if message.run_id else Annotated(text)
    if annotated.text != text or annotated.annotations or annotated.image_file_ids:
        _publish_additions(rt, message, text, annotated)
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": {"value": annotated.text, "annotations": annotated.annotations}}
    ]
    blocks += [
        {"type": "image_file", "image_file": {"file_id": i}} for i in annotated.image_file_ids
    ]
    message = Message.model_validate(
        {
            **message.model_dump(mode="json"),
            "content": blocks,
            "status": "incomplete" if cut else "completed",
            "completed_at": None if cut else now,
            "incomplete_at": now if cut else None,
            "incomplete_details": {"reason": "max_tokens"} if cut else None,
        }
    )
    tokens = rt.tokens.message(message)  # cached now, so the next run need not count it
    with rt.lock:
        rt.store.update(MESSAGES, message, token_count=tokens)
        event = "thread.message.incomplete" if cut else "thread.message.completed"
        rt.hub.publish(message.run_id or "", event, message)
    return message


def _publish_additions(rt: Runtime, message: Message, text: str, annotated: Annotated) -> None:
    appended = annotated.text[len(text) :] if annotated.text.startswith(text) else ""
    content: list[dict[str, Any]] = [
        {
            "index": 0,
            "type": "text",
            "text": {
                "value": appended,
                "annotations": [{"index": i, **a} for i, a in enumerate(annotated.annotations)],
            },
        }
    ]
    content += [
        {"index": i + 1, "type": "image_file", "image_file": {"file_id": file_id}}
        for i, file_id in enumerate(annotated.image_file_ids)
    ]
    event = MessageDeltaEvent.model_validate(
        {"id": message.id, "object": "thread.message.delta", "delta": {"content": content}}
    )
    rt.hub.publish(message.run_id or "", "thread.message.delta", event)
