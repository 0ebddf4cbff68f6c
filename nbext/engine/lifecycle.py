"""The run state machine: every status change of a run goes through here.

::

    queued -> in_progress -> requires_action -(submit_tool_outputs)-> queued -> ...
                          -> completed | incomplete | failed | expired
    queued | in_progress | requires_action -(cancel)-> cancelling -> cancelled

A change is applied only if the run is still in a status it may change from,
re-read under one lock: the API thread (cancel, submit) and the worker race
for the same run, and the loser must see that it lost rather than overwrite.
Each change is stored, then published as ``thread.run.<status>``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from openai.types.beta.threads import Message, Run
from openai.types.beta.threads.runs import RunStep

from nbext.backends.base import ChatBackend
from nbext.engine import workers
from nbext.engine.context_window import TokenCounter
from nbext.engine.events import FINAL_EVENTS, EventHub
from nbext.errors import invalid
from nbext.protocol import EXPIRES_IN_KEY
from nbext.store import MESSAGES, PROMPTS, RUN_STEPS, RUNS, Store
from nbext.tools.registry import ToolRegistry

RUN_LIFETIME = 600


def lifetime(metadata: Mapping[str, str] | None) -> int:
    """Seconds from a run's creation to ``expires_at``: 600, or less if asked."""
    asked = (metadata or {}).get(EXPIRES_IN_KEY)
    if asked is None:
        return RUN_LIFETIME
    try:
        return max(1, min(RUN_LIFETIME, int(asked)))
    except ValueError:
        raise invalid(
            f"metadata.{EXPIRES_IN_KEY} must be a whole number of seconds (1-600).",
            param=f"metadata.{EXPIRES_IN_KEY}",
        ) from None


"""Seconds from creation until an unfinished run expires (OpenAI's ten minutes)."""

ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")
"""A thread with a run in one of these accepts no new messages and no new run."""

WORKING = ("queued", "in_progress", "cancelling")
"""Statuses only a live worker moves a run out of."""

RESTARTED = "the server restarted while this run was in progress"

_STEP_STATUS = {
    "cancelled": "cancelled",
    "failed": "failed",
    "expired": "expired",
    "incomplete": "cancelled",
    "completed": "completed",
}
_MESSAGE_REASON = {
    "cancelled": "run_cancelled",
    "failed": "run_failed",
    "expired": "run_expired",
    "incomplete": "max_tokens",
    "completed": "max_tokens",
}

Terminal = Literal["completed", "incomplete", "failed", "cancelled", "expired"]


@dataclass
class Runtime:
    """What the service and the worker share."""

    store: Store
    backend: ChatBackend
    tools: ToolRegistry
    clock: Callable[[], float]
    hub: EventHub = field(default_factory=EventHub)
    lock: threading.RLock = field(default_factory=threading.RLock)
    cancel_requests: set[str] = field(default_factory=set)
    tokens: TokenCounter = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = TokenCounter(self.backend)

    def now(self) -> int:
        return int(self.clock())

    def message_columns(self, message: Message) -> dict[str, Any]:
        """A message's indexed columns; its tokens counted once, here, so no run
        ever re-tokenizes the thread."""
        return {
            "thread_id": message.thread_id,
            "run_id": message.run_id,
            "token_count": self.tokens.message(message),
        }


def transition(
    rt: Runtime, run_id: str, status: str, only_from: Collection[str], **changes: Any
) -> Run | None:
    """Move the run to ``status`` if it is still in one of ``only_from``; None if it is not."""
    with rt.lock:
        run = rt.store.find(RUNS, None, run_id)
        if run is None or run.status not in only_from:
            return None
        run = run.model_copy(update={"status": status, **changes})
        rt.store.update(RUNS, run, status=status)
        event = f"thread.run.{status}"
        rt.hub.publish(run_id, event, run)
        if event in FINAL_EVENTS:
            rt.hub.close(run_id)
        return run


def finish(
    rt: Runtime,
    run_id: str,
    status: Terminal,
    only_from: Collection[str] = WORKING,
    *,
    last_error: dict[str, str] | None = None,
    incomplete_reason: str | None = None,
) -> Run | None:
    """End the run: close what it left open, total its usage, publish the final event."""
    now = rt.now()
    with rt.lock:
        run = rt.store.find(RUNS, None, run_id)
        if run is None:  # its thread was deleted
            rt.cancel_requests.discard(run_id)
            return None
        if run.status not in only_from:
            return None
        _close_leftovers(rt, run_id, status, now, last_error)
        changes: dict[str, Any] = {
            "usage": _usage(rt, run_id),
            "required_action": None,
            "expires_at": run.expires_at if status == "expired" else None,
            "last_error": last_error,
            "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        }
        stamp = {"completed": "completed_at", "failed": "failed_at", "cancelled": "cancelled_at"}
        if status in stamp:
            changes[stamp[status]] = now
        rt.cancel_requests.discard(run_id)
        workers.release(rt.store, run_id)
        return transition(rt, run_id, status, only_from, **_validated(run, changes))


def expire_if_due(rt: Runtime, run: Run) -> Run:
    """Runs expire lazily: whoever looks at an overdue unfinished run expires it."""
    if run.status in ACTIVE and run.expires_at is not None and rt.now() > run.expires_at:
        return finish(rt, run.id, "expired", ACTIVE) or rt.store.get(RUNS, None, run.id)
    return run


def active_run(rt: Runtime, thread_id: str) -> Run | None:
    """The thread's run that keeps it busy (no new messages, no new run), if any."""
    for run in rt.store.all(RUNS, thread_id=thread_id, status=ACTIVE):
        if expire_if_due(rt, run).status in ACTIVE:
            return run
    return None


def recover(rt: Runtime) -> None:
    """At start-up: runs a dead process was executing can never finish, so say so.

    Runs another live process is executing (another kernel's server on the
    same database) are left to it.
    """
    for run in rt.store.all(RUNS, status=(*WORKING, "requires_action")):
        if run.status in WORKING and workers.executed_elsewhere(rt.store, run.id):
            continue
        overdue = run.expires_at is not None and rt.now() > run.expires_at
        if overdue:
            finish(rt, run.id, "expired", ACTIVE)
        elif run.status in WORKING:
            finish(
                rt,
                run.id,
                "failed",
                WORKING,
                last_error={"code": "server_error", "message": RESTARTED},
            )


def _validated(run: Run, changes: dict[str, Any]) -> dict[str, Any]:
    """Nested changes given as dicts, turned into the SDK's models."""
    data = run.model_dump(mode="json", by_alias=True)
    data.update(changes)
    parsed = Run.model_validate(data)
    return {key: getattr(parsed, key) for key in changes}


def _usage(rt: Runtime, run_id: str) -> dict[str, int]:
    prompt = completion = 0
    for record in rt.store.all(PROMPTS, run_id=run_id):
        if record.usage is not None:
            prompt += record.usage.prompt_tokens
            completion += record.usage.completion_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _close_leftovers(
    rt: Runtime, run_id: str, status: Terminal, now: int, last_error: dict[str, str] | None
) -> None:
    step_status = _STEP_STATUS[status]
    for step in rt.store.all(RUN_STEPS, run_id=run_id):
        if step.status != "in_progress":
            continue
        data = step.model_dump(mode="json")
        data["status"] = step_status
        data[f"{step_status}_at"] = now
        if step_status == "failed" and last_error:
            data["last_error"] = {"code": "server_error", "message": last_error["message"]}
        closed = RunStep.model_validate(data)
        rt.store.update(RUN_STEPS, closed)
        rt.hub.publish(run_id, f"thread.run.step.{step_status}", closed)
    for message in rt.store.all(MESSAGES, run_id=run_id):
        if message.status != "in_progress":
            continue
        closed_message = Message.model_validate(
            {
                **message.model_dump(mode="json"),
                "status": "incomplete",
                "incomplete_at": now,
                "incomplete_details": {"reason": _MESSAGE_REASON[status]},
            }
        )
        rt.store.update(MESSAGES, closed_message)
        rt.hub.publish(run_id, "thread.message.incomplete", closed_message)
