"""Runs and run steps, plus nbext's two windows into a run (``context``, ``prompts``).

Runs never execute in the caller: creating one stores it ``queued`` and
hands it to the run engine's workers (:class:`~nbext.engine.queue.RunQueue`).
``stream_*`` variants return the run's events as ``(event_name, sdk_object)``
pairs instead of the run; errors raise before the first event.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from openai.types.beta import Thread, ThreadCreateParams
from openai.types.beta.thread_create_and_run_params import ThreadCreateAndRunParamsBase
from openai.types.beta.threads import Run, RunUpdateParams
from openai.types.beta.threads.run_create_params import RunCreateParamsBase
from openai.types.beta.threads.run_submit_tool_outputs_params import (
    RunSubmitToolOutputsParamsBase,
)
from openai.types.beta.threads.runs import FileSearchToolCall, RunStep, ToolCallsStepDetails
from openai.types.beta.threads.runs.file_search_tool_call import FileSearchResultContent

from nbext.api import objects
from nbext.api.threads.service import Threads
from nbext.engine.events import Event, RunChannel
from nbext.engine.lifecycle import Runtime, active_run, expire_if_due, finish, transition
from nbext.engine.queue import RunQueue
from nbext.errors import invalid, not_found
from nbext.protocol import INCLUDE_FILE_SEARCH_CONTENT
from nbext.store import (
    ASSISTANTS,
    CONTEXTS,
    FILE_SEARCH_CONTENTS,
    MESSAGES,
    PROMPTS,
    RUN_STEPS,
    RUNS,
    THREADS,
    ListQuery,
    Page,
)
from nbext.store.records import RunContext, RunPrompt
from nbext.tools.function.outputs import matched_outputs, record_outputs


class Runs:
    def __init__(self, rt: Runtime, queue: RunQueue, threads: Threads) -> None:
        self.rt = rt
        self.queue = queue
        self.threads = threads

    def create(self, owner: str, thread_id: str, body: RunCreateParamsBase) -> Run:
        return self._start(owner, thread_id, body)[0]

    def stream(self, owner: str, thread_id: str, body: RunCreateParamsBase) -> Iterator[Event]:
        """Like :meth:`create`; errors raise here, before the first event."""
        return iter(self._start(owner, thread_id, body)[1])

    def create_and_run(self, owner: str, body: ThreadCreateAndRunParamsBase) -> Run:
        """``POST /threads/runs``: a new thread and a run on it."""
        return self._thread_and_run(owner, body)[0]

    def stream_create_and_run(
        self, owner: str, body: ThreadCreateAndRunParamsBase
    ) -> Iterator[Event]:
        """Starts with ``thread.created``, then the run's events."""
        return iter(self._thread_and_run(owner, body)[1])

    def retrieve(self, owner: str, thread_id: str, run_id: str) -> Run:
        run = self.rt.store.get(RUNS, owner, run_id, thread_id=thread_id)
        return expire_if_due(self.rt, run)

    def list(self, owner: str, thread_id: str, page: ListQuery | None = None) -> Page[Run]:
        self.rt.store.get(THREADS, owner, thread_id)
        runs = self.rt.store.list(RUNS, owner, page or ListQuery(), thread_id=thread_id)
        runs.data = [expire_if_due(self.rt, run) for run in runs.data]
        return runs

    def update(self, owner: str, thread_id: str, run_id: str, body: RunUpdateParams) -> Run:
        with self.rt.lock:
            run = objects.modified(self.retrieve(owner, thread_id, run_id), body)
            self.rt.store.update(RUNS, run, status=run.status)
        return run

    def cancel(self, owner: str, thread_id: str, run_id: str) -> Run:
        """A working run becomes ``cancelling`` (its worker stops at the next token);
        a run waiting for tool outputs has no worker and is ``cancelled`` at once."""
        with self.rt.lock:
            run = self.retrieve(owner, thread_id, run_id)
            if run.status in ("queued", "in_progress"):
                self.rt.cancel_requests.add(run_id)
                return transition(self.rt, run_id, "cancelling", ("queued", "in_progress")) or run
            if run.status == "requires_action":
                return finish(self.rt, run_id, "cancelled", ("requires_action",)) or run
            if run.status == "cancelling":
                return run
            raise invalid(f"Cannot cancel run with status '{run.status}'.")

    def submit_tool_outputs(
        self, owner: str, thread_id: str, run_id: str, body: RunSubmitToolOutputsParamsBase
    ) -> Run:
        return self._resume(owner, thread_id, run_id, body)[0]

    def stream_submit_tool_outputs(
        self, owner: str, thread_id: str, run_id: str, body: RunSubmitToolOutputsParamsBase
    ) -> Iterator[Event]:
        return iter(self._resume(owner, thread_id, run_id, body)[1])

    def subscribe(self, owner: str, thread_id: str, run_id: str) -> Iterator[Event]:
        """Join a run's current stream from its start; a run at rest yields its last event."""
        # The channel first, the run second: the other way round, a run that
        # ends in between would be reported in the state it had before.
        channel = self.rt.hub.current(run_id)
        run = self.retrieve(owner, thread_id, run_id)  # also the owner check
        if channel is not None:
            return iter(channel)
        return iter([Event(f"thread.run.{run.status}", run)])

    # -- what the model saw (nbext's own endpoints) ---------------------------

    def context(self, owner: str, thread_id: str, run_id: str) -> RunContext:
        """The thread messages the run sent to the model, and those truncation left out."""
        self.retrieve(owner, thread_id, run_id)
        stored = self.rt.store.find(CONTEXTS, owner, run_id)
        if stored is None:
            raise not_found("run context", run_id)
        omitted: list[str] = []
        for first, last in stored.omitted_seq_ranges:
            rows = self.rt.store.columns(
                MESSAGES, ["id"], thread_id=thread_id, seq=range(first, last + 1)
            )
            omitted.extend(row.id for row in rows)
        fields = stored.model_dump(exclude={"omitted_seq_ranges"})
        counted = self.rt.store.columns(MESSAGES, ["id", "token_count"], thread_id=thread_id)
        tokens = {row.id: row.token_count for row in counted if row.token_count is not None}
        return RunContext(**fields, omitted_message_ids=omitted, message_tokens=tokens)

    def prompts(self, owner: str, thread_id: str, run_id: str) -> Page[RunPrompt]:
        """Every Chat Completions request the run made, in order (never many: no paging)."""
        self.retrieve(owner, thread_id, run_id)
        prompts = self.rt.store.all(PROMPTS, owner, run_id=run_id)
        return Page[RunPrompt](
            data=prompts,
            first_id=prompts[0].id if prompts else None,
            last_id=prompts[-1].id if prompts else None,
            has_more=False,
        )

    # -- internals -----------------------------------------------------------

    def _thread_and_run(
        self, owner: str, params: ThreadCreateAndRunParamsBase
    ) -> tuple[Run, RunChannel]:
        body: dict[str, Any] = dict(params)
        self.rt.store.get(ASSISTANTS, owner, body["assistant_id"])  # before creating anything
        thread_body = dict(body.pop("thread", None) or {})
        resources = body.pop("tool_resources", None)
        if resources:
            resources = self.rt.tools.resolve_resources(owner, {"tool_resources": resources})[
                "tool_resources"
            ]
        if resources and not thread_body.get("tool_resources"):
            thread_body["tool_resources"] = resources
        thread = self.threads.create(owner, cast(ThreadCreateParams, thread_body))
        return self._start(owner, thread.id, body, created_thread=thread)

    def _start(
        self,
        owner: str,
        thread_id: str,
        body: Mapping[str, Any],
        created_thread: Thread | None = None,
    ) -> tuple[Run, RunChannel]:
        assistant = self.rt.store.get(ASSISTANTS, owner, body["assistant_id"])
        for m in body.get("additional_messages") or []:
            self.rt.tools.hooks.check_attachments(owner, m.get("attachments") or [])
        with self.rt.lock:
            self.rt.store.get(THREADS, owner, thread_id)
            active = active_run(self.rt, thread_id)
            if active is not None:
                raise invalid(f"Thread {thread_id} already has an active run {active.id}.")
            now = self.rt.now()
            run = objects.new_run(body, assistant, thread_id, now)
            extra = [
                objects.new_message(m, thread_id, now)
                for m in body.get("additional_messages") or []
            ]
            self.rt.store.insert_many(
                MESSAGES, owner, [(m, self.rt.message_columns(m)) for m in extra]
            )
            if extra:
                self.rt.tools.hooks.messages_created(owner, thread_id, extra)
            self.rt.store.insert(RUNS, owner, run, thread_id=thread_id, status=run.status)
            channel = self.rt.hub.open(run.id)
            if created_thread is not None:
                channel.publish("thread.created", created_thread)
            channel.publish("thread.run.created", run)
            channel.publish("thread.run.queued", run)
        self.queue.submit(run.id, owner, channel)
        return run, channel

    def _resume(
        self, owner: str, thread_id: str, run_id: str, body: RunSubmitToolOutputsParamsBase
    ) -> tuple[Run, RunChannel]:
        """Record the client's function outputs and hand the run back to a worker."""
        with self.rt.lock:
            run = self.retrieve(owner, thread_id, run_id)
            outputs = matched_outputs(run, body["tool_outputs"])
            record_outputs(self.rt.store, run_id, outputs)
            channel = self.rt.hub.open(run_id)
            resumed = transition(
                self.rt, run_id, "queued", ("requires_action",), required_action=None
            )
            assert resumed is not None  # the lock is held and the status was checked
        self.queue.submit(run_id, owner, channel)
        return resumed, channel


class Steps:
    """Run steps: what a run did, step by step (a message, or tool calls)."""

    def __init__(self, rt: Runtime, runs: Runs) -> None:
        self.rt = rt
        self.runs = runs

    def list(
        self,
        owner: str,
        thread_id: str,
        run_id: str,
        page: ListQuery | None = None,
        include: Sequence[str] = (),
    ) -> Page[RunStep]:
        """``include`` may ask for file_search passages (:data:`INCLUDE_FILE_SEARCH_CONTENT`)."""
        self.runs.retrieve(owner, thread_id, run_id)
        steps = self.rt.store.list(RUN_STEPS, owner, page or ListQuery(), run_id=run_id)
        if INCLUDE_FILE_SEARCH_CONTENT in include:
            steps.data = [self._with_contents(step) for step in steps.data]
        return steps

    def retrieve(
        self, owner: str, thread_id: str, run_id: str, step_id: str, include: Sequence[str] = ()
    ) -> RunStep:
        step = self.rt.store.get(RUN_STEPS, owner, step_id, thread_id=thread_id, run_id=run_id)
        return self._with_contents(step) if INCLUDE_FILE_SEARCH_CONTENT in include else step

    def _with_contents(self, step: RunStep) -> RunStep:
        """The step with its file_search results' passages filled in (``include``)."""
        if not isinstance(step.step_details, ToolCallsStepDetails):
            return step
        step = step.model_copy(deep=True)
        assert isinstance(step.step_details, ToolCallsStepDetails)
        for call in step.step_details.tool_calls:
            if not isinstance(call, FileSearchToolCall) or not call.file_search.results:
                continue
            stored = self.rt.store.find(FILE_SEARCH_CONTENTS, None, call.id)
            if stored is None:
                continue
            for result, text in zip(call.file_search.results, stored.contents, strict=False):
                result.content = [FileSearchResultContent(type="text", text=text)]
        return step
